package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaPasswordEnv holds the SASL password (or OAUTHBEARER token). It is
// read from the environment or a file only, never from a flag: flag values
// show in process listings and shell history.
const kafkaPasswordEnv = "ORDO_KAFKA_SASL_PASSWORD"

// SASL mechanisms Ordo's Kafka clients can authenticate with.
const (
	saslPlain       = "PLAIN"
	saslScramSHA256 = "SCRAM-SHA-256"
	saslScramSHA512 = "SCRAM-SHA-512"
	saslOAuthBearer = "OAUTHBEARER"
)

// kafkaSecurity registers the TLS and SASL flags of every Kafka client a
// role makes (part of the kafka group).
func (f *flagSet) kafkaSecurity() {
	f.boolean(&f.o.KafkaTLS, "kafka-tls", "ORDO_KAFKA_TLS", "connect to the brokers over TLS (the system's CAs unless --kafka-tls-ca)")
	f.str(&f.o.KafkaTLSCA, "kafka-tls-ca", "ORDO_KAFKA_TLS_CA", "PEM file of the CA certificates that sign the brokers' certificates (with --kafka-tls)")
	f.str(&f.o.KafkaTLSCert, "kafka-tls-cert", "ORDO_KAFKA_TLS_CERT", "PEM client certificate for mutual TLS (with --kafka-tls-key)")
	f.str(&f.o.KafkaTLSKey, "kafka-tls-key", "ORDO_KAFKA_TLS_KEY", "PEM private key of --kafka-tls-cert")
	f.str(&f.o.KafkaTLSServerName, "kafka-tls-server-name", "ORDO_KAFKA_TLS_SERVER_NAME", "name the brokers' certificates must carry (default: each broker's host)")
	f.str(&f.o.KafkaSASLMechanism, "kafka-sasl-mechanism", "ORDO_KAFKA_SASL_MECHANISM", "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (empty: no SASL)")
	f.str(&f.o.KafkaSASLUser, "kafka-sasl-user", "ORDO_KAFKA_SASL_USER", "SASL user name (not used by OAUTHBEARER)")
	f.str(&f.o.KafkaSASLPasswordFile, "kafka-sasl-password-file", "ORDO_KAFKA_SASL_PASSWORD_FILE", "file holding the SASL password or OAUTHBEARER token; else the variable "+kafkaPasswordEnv+" (never a flag)")
	f.o.kafkaSASLPassword = os.Getenv(kafkaPasswordEnv)
}

// kafkaOpts are the Kafka client options for the TLS and SASL settings of
// o, or an error naming the flags of an unusable combination. Empty
// settings: plaintext, unauthenticated, franz-go's defaults.
func kafkaOpts(o Options) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	var errs []error
	tlsOnly := func(flag, v string) {
		if v != "" && !o.KafkaTLS {
			errs = append(errs, fmt.Errorf("--%s needs --kafka-tls", flag))
		}
	}
	tlsOnly("kafka-tls-ca", o.KafkaTLSCA)
	tlsOnly("kafka-tls-cert", o.KafkaTLSCert)
	tlsOnly("kafka-tls-key", o.KafkaTLSKey)
	tlsOnly("kafka-tls-server-name", o.KafkaTLSServerName)
	if (o.KafkaTLSCert == "") != (o.KafkaTLSKey == "") {
		errs = append(errs, errors.New("--kafka-tls-cert and --kafka-tls-key go together"))
	}
	if o.KafkaTLS && len(errs) == 0 {
		cfg, err := kafkaTLSConfig(o)
		if err != nil {
			errs = append(errs, err)
		} else {
			opts = append(opts, kgo.DialTLSConfig(cfg))
		}
	}
	mech, err := kafkaSASL(o)
	if err != nil {
		errs = append(errs, err)
	} else if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return opts, nil
}

// kafkaTLSConfig is the clients' TLS configuration: TLS 1.2 at least, the
// brokers verified against --kafka-tls-ca (or the system's CAs).
func kafkaTLSConfig(o Options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.KafkaTLSServerName}
	if o.KafkaTLSCA != "" {
		pem, err := os.ReadFile(o.KafkaTLSCA)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kafka-tls-ca %s: no PEM certificate in it", o.KafkaTLSCA)
		}
		cfg.RootCAs = pool
	}
	if o.KafkaTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.KafkaTLSCert, o.KafkaTLSKey)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-cert/--kafka-tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// kafkaSASL is the SASL mechanism of o, nil without --kafka-sasl-mechanism.
// Errors never contain the password.
func kafkaSASL(o Options) (sasl.Mechanism, error) {
	mechanism := strings.ToUpper(strings.TrimSpace(o.KafkaSASLMechanism))
	password := o.kafkaSASLPassword
	if o.KafkaSASLPasswordFile != "" {
		if password != "" {
			return nil, fmt.Errorf("set one of --kafka-sasl-password-file and %s, not both", kafkaPasswordEnv)
		}
		b, err := os.ReadFile(o.KafkaSASLPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-sasl-password-file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if mechanism == "" {
		if o.KafkaSASLUser != "" || password != "" || o.KafkaSASLPasswordFile != "" {
			return nil, errors.New("--kafka-sasl-user and the SASL password need --kafka-sasl-mechanism (ORDO_KAFKA_SASL_MECHANISM)")
		}
		return nil, nil
	}
	if password == "" {
		return nil, fmt.Errorf("--kafka-sasl-mechanism %s needs a password: set %s or --kafka-sasl-password-file", mechanism, kafkaPasswordEnv)
	}
	if mechanism != saslOAuthBearer && o.KafkaSASLUser == "" {
		return nil, fmt.Errorf("--kafka-sasl-mechanism %s needs --kafka-sasl-user (ORDO_KAFKA_SASL_USER)", mechanism)
	}
	switch mechanism {
	case saslPlain:
		return plain.Auth{User: o.KafkaSASLUser, Pass: password}.AsMechanism(), nil
	case saslScramSHA256:
		return scram.Auth{User: o.KafkaSASLUser, Pass: password}.AsSha256Mechanism(), nil
	case saslScramSHA512:
		return scram.Auth{User: o.KafkaSASLUser, Pass: password}.AsSha512Mechanism(), nil
	case saslOAuthBearer:
		if o.KafkaSASLUser != "" {
			return nil, errors.New("--kafka-sasl-user is not used by OAUTHBEARER: the token (the password) identifies the client")
		}
		return oauth.Auth{Token: password}.AsMechanism(), nil
	default:
		return nil, fmt.Errorf("--kafka-sasl-mechanism %q: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", o.KafkaSASLMechanism)
	}
}

// kafkaClientOpts are the options of every Kafka client a role makes:
// TLS and SASL, then the tracing hooks.
func kafkaClientOpts(o Options) ([]kgo.Opt, error) {
	opts, err := kafkaOpts(o)
	if err != nil {
		return nil, err
	}
	return append(opts, o.telemetry.kafkaOpts()...), nil
}
