//go:build tools

// MetalLB's controller and speaker, built from its Go module at the version
// go.mod pins, with the k8s.io modules it needs (newer than the lab's own:
// hence a module of its own).
package tools

import (
	_ "go.universe.tf/metallb/controller"
	_ "go.universe.tf/metallb/speaker"
)
