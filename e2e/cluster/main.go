// Command cluster runs one real Kubernetes component per process, built from
// the Kubernetes Go modules, so the e2e tests need no Docker, kind or
// downloaded release binaries. Usage: cluster <component> [flags...].
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cluster etcd|pki|kube-apiserver|kube-controller-manager|kube-proxy|kube-scheduler|kubelet|kubectl|version [flags...]")
		os.Exit(2)
	}
	component, args := os.Args[1], os.Args[2:]
	var cmd *cobra.Command
	switch component {
	case "etcd":
		os.Exit(runEtcd(args))
	case "pki":
		os.Exit(runPKI(args))
	case "version":
		fmt.Println(kubeVersion())
		return
	case "kubectl":
		// kubectl reads os.Args itself (plugin lookup, verbosity): give it what a kubectl binary sees.
		os.Args = append([]string{"kubectl"}, args...)
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		return
	case "kube-apiserver":
		cmd = apiserver.NewAPIServerCommand()
	case "kube-controller-manager":
		cmd = controllermanager.NewControllerManagerCommand()
	case "kube-proxy":
		cmd = proxy.NewProxyCommand()
	case "kube-scheduler":
		cmd = scheduler.NewSchedulerCommand()
	case "kubelet":
		cmd = kubelet.NewKubeletCommand(context.Background())
	default:
		fmt.Fprintf(os.Stderr, "unknown component %q\n", component)
		os.Exit(2)
	}
	// Each component's cobra command reads os.Args[1:] by default; hand it
	// only the flags meant for it.
	cmd.SetArgs(args)
	os.Exit(cli.Run(cmd))
}
