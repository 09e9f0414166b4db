// Package deploy holds the files to run the Greeter as a fleet, and no Go
// code of its own: compose.yaml (three greeters, Redis and HAProxy),
// haproxy.cfg, and Kubernetes manifests under k8s/ (Deployment, Service,
// PodDisruptionBudget, HorizontalPodAutoscaler, Secret). Its tests decode
// every manifest strictly into the Kubernetes API types and check the
// files against each other and against the greeter binary; README.md in
// this directory says how to use them.
package deploy
