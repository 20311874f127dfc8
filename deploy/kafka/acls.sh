#!/usr/bin/env sh
# Kafka ACLs for Ordo's roles: the least each needs, as kafka-acls.sh
# commands for an Apache Kafka cluster with an authorizer and SASL (see
# SECURITY.md, "Threat model"). Principals, topics and group are the
# defaults; change them to yours. Run with the admin client config of your
# cluster:
#
#   BOOTSTRAP=kafka-1:9092 ADMIN_CONFIG=admin.properties sh deploy/kafka/acls.sh
#
# Who writes the commands topic can move money: a record there is a command
# (a deposit as much as a transfer step). Grant Write on it to the API and
# the consumers only. Nobody else needs it: other services call the HTTP API
# or read the events topic.
set -eu
: "${BOOTSTRAP:?set BOOTSTRAP to a broker address}"
: "${ADMIN_CONFIG:?set ADMIN_CONFIG to the admin client properties file}"
API=${API_PRINCIPAL:-User:ordo-api}
CONSUMER=${CONSUMER_PRINCIPAL:-User:ordo-consumer}
OPERATOR=${OPERATOR_PRINCIPAL:-User:ordo-operator}
COMMANDS=${ORDO_COMMANDS_TOPIC:-ordo.commands}
REPLIES=${ORDO_REPLIES_TOPIC:-ordo.replies}
EVENTS=${ORDO_EVENTS_TOPIC:-ordo.events}
GROUP=${ORDO_GROUP:-ordo-consumers}

acl() { kafka-acls.sh --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --add "$@"; }

# ordo api: produces commands (idempotent producer), reads its reply
# partition without a group, checks that the topics exist.
acl --allow-principal "$API" --operation Write --operation Describe --topic "$COMMANDS"
acl --allow-principal "$API" --operation Read --operation Describe --topic "$REPLIES"
acl --allow-principal "$API" --operation Describe --topic "$EVENTS"

# ordo consumer: reads the commands topic in its group, produces saga steps
# and hold expiries to it, replies to the replies topic, and the events
# through one transactional producer per partition (IDs ordo-events-*), whose
# last committed record it reads back on claim.
acl --allow-principal "$CONSUMER" --operation Read --operation Write --operation Describe --topic "$COMMANDS"
acl --allow-principal "$CONSUMER" --operation Read --group "$GROUP"
acl --allow-principal "$CONSUMER" --operation Write --operation Describe --topic "$REPLIES"
acl --allow-principal "$CONSUMER" --operation Read --operation Write --operation Describe --topic "$EVENTS"
acl --allow-principal "$CONSUMER" --operation Write --operation Describe --transactional-id ordo-events- --resource-pattern-type prefixed

# Operators: `ordo topics create|check|repartition` and `ordo partitions`.
acl --allow-principal "$OPERATOR" --operation Create --operation Describe --operation DescribeConfigs --operation Alter --topic ordo. --resource-pattern-type prefixed
acl --allow-principal "$OPERATOR" --operation Describe --group "$GROUP"

# Services that build read models from the events topic (one group each).
# acl --allow-principal User:ledger-reader --operation Read --operation Describe --topic "$EVENTS"
# acl --allow-principal User:ledger-reader --operation Read --group ledger-reader
