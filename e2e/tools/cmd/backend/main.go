// Command backend is the traffic tests' workload in a real pod, speaking the
// protocol of e2e/echo-server.ts: a TCP connection first hears the pod's
// identity, then gets each line back prefixed with it ("peer" is answered
// with the address the connection came from); a UDP datagram is answered
// with the identity.
//
//	backend --id NAME --tcp 8080,8081 --udp 5353
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
)

func ports(s string) []int {
	var out []int
	for _, p := range strings.Split(s, ",") {
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			log.Fatalf("bad port %q", p)
		}
		out = append(out, n)
	}
	return out
}

func serveTCP(id string, port int) {
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			fmt.Fprintf(c, "%s\n", id)
			r := bufio.NewScanner(c)
			for r.Scan() {
				line := r.Text()
				if line == "peer" {
					host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
					line = strings.TrimPrefix(host, "::ffff:")
				}
				fmt.Fprintf(c, "%s:%s\n", id, line)
			}
		}(c)
	}
}

func serveUDP(id string, port int) {
	pc, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			continue
		}
		_, _ = pc.WriteTo([]byte(id), from)
	}
}

func main() {
	id := flag.String("id", os.Getenv("POD_NAME"), "identity to answer with")
	tcp := flag.String("tcp", "", "TCP ports, comma-separated")
	udp := flag.String("udp", "", "UDP ports, comma-separated")
	flag.Parse()
	for _, p := range ports(*tcp) {
		go serveTCP(*id, p)
	}
	for _, p := range ports(*udp) {
		go serveUDP(*id, p)
	}
	fmt.Printf("%s listening tcp=%s udp=%s\n", *id, *tcp, *udp)
	select {}
}
