package bench

import (
	"fmt"
	"io"
	"time"
)

// progressWriter writes one progress line: redrawn in place on a terminal,
// else as a plain line of its own, one per interval, stamped with the time
// of day, so that a log of them lines up with what else happened (a node
// drained at 14:03:07).
type progressWriter struct {
	w        io.Writer
	terminal bool
}

func (p progressWriter) line(s string) {
	if p.w == nil {
		return
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", s)
		return
	}
	fmt.Fprintf(p.w, "%s  %s\n", time.Now().Format("15:04:05.000"), s)
}

// progress calls fn every ProgressInterval from a goroutine of its own
// until stop, which waits for that goroutine, draws a last line and, on a
// terminal, ends it. Nothing is drawn without cfg.Progress, but fn is
// still called: it keeps the run's timeline.
func (r *runner) progress(fn func(w progressWriter, elapsed time.Duration)) (stop func()) {
	w := progressWriter{r.cfg.Progress, r.cfg.Terminal}
	start := time.Now()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn(w, time.Since(start))
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		if w.terminal {
			fn(w, time.Since(start))
			fmt.Fprintln(w.w)
		}
	}
}
