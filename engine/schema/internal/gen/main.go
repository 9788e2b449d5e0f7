// Command gen writes the policy input schema to the file named by its
// argument: go generate ./engine/schema (make schema).
package main

import (
	"fmt"
	"os"

	"github.com/hubble-sentinel/hubble-sentinel/engine/schema"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen FILE")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], schema.JSON(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
