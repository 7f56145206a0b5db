package kubelet

import (
	"bytes"
	"io"
	"sync"
)

// watcher is shared by a container's stdout and stderr writers: it passes
// the output through and closes seen once the needle was written to either
// stream (matches across write boundaries are found).
type watcher struct {
	needle []byte
	seen   chan struct{}

	mu   sync.Mutex
	done bool
}

func newWatcher(needle string) *watcher {
	return &watcher{needle: []byte(needle), seen: make(chan struct{})}
}

// stream returns a writer that copies to w and looks for the needle.
func (m *watcher) stream(w io.Writer) io.Writer {
	return &watchedStream{m: m, w: w}
}

type watchedStream struct {
	m    *watcher
	w    io.Writer
	tail []byte // the last len(needle)-1 bytes written
}

func (s *watchedStream) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	m := s.m
	if len(m.needle) == 0 {
		return n, err
	}
	buf := append(s.tail, p...)
	if bytes.Contains(buf, m.needle) {
		m.mu.Lock()
		if !m.done {
			m.done = true
			close(m.seen)
		}
		m.mu.Unlock()
	}
	keep := len(m.needle) - 1
	if len(buf) > keep {
		buf = buf[len(buf)-keep:]
	}
	s.tail = append(s.tail[:0], buf...)
	return n, err
}

// prefixWriter prefixes every line with a label, for the output of init and
// sidecar containers, which goes to the stand-in's stderr.
type prefixWriter struct {
	mu     *sync.Mutex // shared by the streams writing to w
	w      io.Writer
	prefix []byte
	midway bool // the last write did not end a line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	var out bytes.Buffer
	for len(b) > 0 {
		if !p.midway {
			out.Write(p.prefix)
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out.Write(b)
			p.midway = true
			break
		}
		out.Write(b[:i+1])
		p.midway = false
		b = b[i+1:]
	}
	if _, err := p.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return n, nil
}
