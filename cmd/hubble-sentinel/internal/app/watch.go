package app

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher reports changes to a policy directory: its Rego modules and data
// documents, in every subdirectory, including ones created later, and the
// swap of a symbolic link on its path (git-sync's --link). Bursts of
// events (an editor's save, a git checkout, a ConfigMap update swapping its
// ..data link) become one change once the directory has been quiet for
// Debounce.
type Watcher struct {
	Dir string
	// File, when set, narrows the watch to this one file of Dir (a policy
	// bundle): Dir alone is watched, for the file being written, created
	// or replaced by a rename or a ConfigMap's ..data swap.
	File     string
	Debounce time.Duration
	Logger   *slog.Logger

	changes chan struct{}
	// links are the symbolic links on the path to Dir (a git-sync
	// checkout's), whose parents are watched for the link being swapped.
	links map[string]bool
}

// DefaultDebounce waits out an editor's or git's burst of writes.
const DefaultDebounce = 500 * time.Millisecond

// NewWatcher returns a watcher of dir; Run starts watching.
func NewWatcher(dir string, logger *slog.Logger) *Watcher {
	return &Watcher{Dir: dir, Debounce: DefaultDebounce, Logger: logger, changes: make(chan struct{}, 1)}
}

// Changes receives a value after each quiet burst of changes. A change
// noticed while the previous one is still pending is merged into it.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Run watches until ctx ends. A directory that cannot be watched (inotify
// limits, permissions) is logged once and leaves SIGHUP as the way to
// reload: the daemon keeps running on the policies it has.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err == nil {
		defer fw.Close()
		if w.File != "" {
			err = fw.Add(w.Dir)
		} else if err = w.addTree(fw, w.Dir); err == nil {
			err = w.watchLinks(fw)
		}
	}
	if err != nil {
		w.Logger.Error("cannot watch the policy directory; reload with SIGHUP", "dir", w.Dir, "file", w.File, "err", err)
		<-ctx.Done()
		return nil
	}
	w.Logger.Info("watching policies for changes", "dir", w.Dir, "file", w.File)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if !w.relevant(fw, ev) {
				continue
			}
			timer.Reset(w.Debounce)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			// An overflowing event queue loses events: reload to be sure.
			w.Logger.Warn("policy watcher error, reloading to be safe", "dir", w.Dir, "err", err)
			timer.Reset(w.Debounce)
		case <-timer.C:
			select {
			case w.changes <- struct{}{}:
			default: // a change is already pending
			}
		}
	}
}

// relevant reports whether ev may change the policy set, and starts
// watching directories as they appear.
func (w *Watcher) relevant(fw *fsnotify.Watcher, ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := filepath.Base(ev.Name)
	if w.links[filepath.Dir(ev.Name)+"/"] {
		// In the parent of a link on the path: only the link matters. It
		// now points elsewhere (git-sync swapped it): watch the new tree.
		if !w.links[ev.Name] {
			return false
		}
		if err := w.addTree(fw, w.Dir); err != nil {
			w.Logger.Warn("cannot watch the policy directory after its link changed", "dir", w.Dir, "err", err)
		}
		return true
	}
	if w.File != "" {
		return name == w.File || strings.HasPrefix(name, "..data")
	}
	if ev.Has(fsnotify.Create) {
		if info, err := os.Stat(ev.Name); err == nil && info.IsDir() && !hidden(name) {
			if err := w.addTree(fw, ev.Name); err != nil {
				w.Logger.Warn("cannot watch new policy directory", "dir", ev.Name, "err", err)
			}
			return true
		}
	}
	switch {
	case strings.HasPrefix(name, "..data"): // a Kubernetes ConfigMap or Secret volume swapped its content
		return true
	case hidden(name), strings.HasSuffix(name, "~"):
		return false // editor swap and backup files
	}
	switch filepath.Ext(name) {
	case ".rego", ".json", ".yaml", ".yml":
		return true
	case "":
		return ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) // maybe a directory went away
	}
	return false
}

func (w *Watcher) addTree(fw *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root && hidden(d.Name()) {
			return filepath.SkipDir
		}
		return fw.Add(path)
	})
}

// watchLinks watches the parent of every symbolic link on the path to
// Dir, so that a link swapped to a new target (git-sync's --link, a
// deployment tool's "current") is seen: the watches on the old tree do
// not see it. w.links holds the links, and each parent with a trailing
// slash.
func (w *Watcher) watchLinks(fw *fsnotify.Watcher) error {
	w.links = map[string]bool{}
	abs, err := filepath.Abs(w.Dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		if info, err := os.Lstat(p); err == nil && info.Mode()&fs.ModeSymlink != 0 && filepath.Dir(p) != p {
			parent := filepath.Dir(p)
			if err := fw.Add(parent); err != nil {
				return err
			}
			w.links[p], w.links[parent+"/"] = true, true
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

func hidden(name string) bool { return strings.HasPrefix(name, ".") }
