//go:build race

package hubble

const raceEnabled = true
