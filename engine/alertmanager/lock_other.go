//go:build !unix

package alertmanager

import "os"

// lockDir only creates path: without flock, the operator keeps two
// processes from sharing a spool.
func lockDir(path string) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return f.Close, nil
}
