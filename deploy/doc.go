// Package deploy holds the files that run kmsd in production: nothing in it
// is imported by kmsd.
//
//	systemd/     kmsd.service (hardened unit) and kmsd.sysusers (its user)
//	config/      an example configuration for one member of a three-node
//	             cluster, in YAML and TOML
//	container/   Containerfile: builds the kmsd image from this repository
//	compose/     a three-node cluster on one container host
//	kubernetes/  a three-member StatefulSet with its Services, ConfigMap,
//	             PodDisruptionBudget and NetworkPolicy (kubectl apply -k)
//
// README.md in this directory says how to run each. The tests of this
// package parse every file and check what the others rely on: that each
// configuration setting and flag exists in cmd/kmsd (read from its source),
// that every member lists the same three peers, itself included, that the
// probes ask the right port and service, and that the unit keeps its
// hardening (and passes systemd-analyze verify where that is installed).
package deploy
