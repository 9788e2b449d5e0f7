//go:build !unix

package hubble

import (
	"errors"
	"os"
)

func mmapFile(*os.File, int) ([]byte, error) {
	return nil, errors.New("position files need a Unix system")
}

func munmapFile([]byte) error { return nil }
