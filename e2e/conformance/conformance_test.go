package conformance

import (
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
)

// The upstream suite, unmodified: flags (profiles, report, skips) come from the command line.
func TestConformance(t *testing.T) {
	conformance.RunConformance(t)
}
