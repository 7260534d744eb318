//go:build tools

// The packages openapi-gen reads and the generator itself, so that go.mod and go.sum pin them.
package main

import (
	_ "k8s.io/api/apps/v1"
	_ "k8s.io/api/autoscaling/v1"
	_ "k8s.io/api/autoscaling/v2"
	_ "k8s.io/api/batch/v1"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/api/networking/v1"
	_ "k8s.io/api/policy/v1"
	_ "k8s.io/api/rbac/v1"
	_ "k8s.io/apimachinery/pkg/version"
	_ "k8s.io/kube-openapi/cmd/openapi-gen"
)
