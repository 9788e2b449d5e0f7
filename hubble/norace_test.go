//go:build !race

package hubble

const raceEnabled = false
