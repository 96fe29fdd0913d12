package jetstream

import (
	"context"
	"strconv"
	"time"
)

// tickLoop publishes a retention tick every TickEvery by this node's
// clock. Every node does; the tick's dedup id is its interval's number, so
// the stream keeps one per interval while any node is up. Applying a tick
// prunes at D, by the settings it carries, identically on every node.
func (l *Log) tickLoop() {
	defer l.wg.Done()
	for {
		now := l.DB.Now()
		n := now.UnixNano() / int64(l.TickEvery)
		wait := time.Duration((n+1)*int64(l.TickEvery) - now.UnixNano())
		select {
		case <-l.stop:
			return
		case <-time.After(wait):
		}
		ret := l.DB.Retention
		m := &wireMsg{Kind: "tick", Retention: &ret, DedupWindow: l.DB.DedupWindow, UploadTTL: l.DB.UploadTTL}
		ctx, cancel := context.WithTimeout(context.Background(), l.WriteTimeout)
		stop := context.AfterFunc(l.stopCtx, cancel) // Close does not wait for a tick
		_, err := l.publish(ctx, l.clusterSubject(), m, "tick-"+strconv.FormatInt(int64(l.TickEvery), 10)+"-"+strconv.FormatInt(n+1, 10))
		stop()
		cancel()
		if err != nil && !l.closed() {
			l.Logger.Warn("retention tick not published", "err", err)
		}
	}
}
