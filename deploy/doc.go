// Package deploy holds no code: its tests check the deployment artefacts
// beside it. image_test.go checks the image `make image` builds (non-root,
// CA bundle, OCI labels, `ordo version`); compose_test.go runs the
// docker-compose smoke test (compose/smoke.sh). The Grafana dashboard's
// metric names are checked against the roles' registries in cmd/ordo
// (dashboard_test.go), and the Kubernetes manifests by the separate module
// in kubernetes/validate. See README.md.
package deploy
