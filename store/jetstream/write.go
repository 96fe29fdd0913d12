package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// errUnconfirmed answers a change the cluster did not acknowledge in time.
var errUnconfirmed = store.Unavailable("the cluster did not confirm the change in time; it may still be stored: retry with the same client_id")

// publish stores a message in the stream and returns JetStream's ack:
// stored and fsynced on a quorum. It retries with the same msgID until
// the deadline, so a retry never stores the message twice.
func (l *Log) publish(ctx context.Context, subject string, m *wireMsg, msgID string) (*jetstream.PubAck, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	msg.Header.Set(headerRules, rules)
	msg.Header.Set(headerNode, l.Node)
	var ack *jetstream.PubAck
	err = retry(ctx, func(actx context.Context) error {
		var err error
		ack, err = l.js.PublishMsg(actx, msg)
		return err
	})
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code == 400 {
			return nil, err // refused, not unconfirmed: a retry cannot help
		}
		l.Logger.Warn("publish not confirmed", "subject", subject, "err", err)
		return nil, errUnconfirmed
	}
	return ack, nil
}

// change publishes m, waits until this node has applied it and returns
// what applying it did.
func (l *Log) change(ctx context.Context, subject string, m *wireMsg, msgID string) (bolt.Outcome, bool, error) {
	if l.closed() {
		return bolt.Outcome{}, false, store.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, l.WriteTimeout)
	defer cancel()
	ack, err := l.publish(ctx, subject, m, msgID)
	if err != nil {
		if l.closed() {
			err = store.ErrClosed
		}
		return bolt.Outcome{}, false, err
	}
	o, err := l.waitOutcome(ctx, ack.Sequence)
	return o, ack.Duplicate, err
}

// Append implements store.Log: the event is checked, published, and
// answered with what this node's apply of it did. A delete returns once
// the text is also erased from the stream (see eraseNow).
func (l *Log) Append(ctx context.Context, e store.Event) (store.Record, bool, error) {
	if err := e.Validate(l.DB.MaxTextBytes); err != nil {
		return store.Record{}, false, err
	}
	msgID := randomMsgID()
	if e.ClientID != "" {
		msgID = clientMsgID(e)
	}
	o, dup, err := l.change(ctx, l.roomSubject(e.Room, "event"), &wireMsg{Kind: "event", Event: toWire(e)}, msgID)
	if err != nil {
		return store.Record{}, false, err
	}
	if o.Err != nil {
		return store.Record{}, false, o.Err
	}
	created := o.Created
	if dup && e.ClientID != "" {
		created = false // a retry of a client id: the original answers
	}
	if len(o.Redacted) > 0 {
		if err := l.eraseNow(ctx, o.Redacted); err != nil {
			l.Logger.Warn("erasing deleted text from the stream did not finish in the request; the erasers of every node retry it", "room", o.Record.Room, "err", err)
		}
	}
	return o.Record, created, nil
}

// op publishes an account, settings or marker change and returns its result.
func (l *Log) op(ctx context.Context, m *wireMsg) (any, error) {
	m.Kind = "op"
	o, _, err := l.change(ctx, l.acctSubject(), m, randomMsgID())
	if err != nil {
		return nil, err
	}
	return o.Result, o.Err
}

// AddUser implements store.Accounts.
func (l *Log) AddUser(ctx context.Context, u store.User) error {
	_, err := l.op(ctx, &wireMsg{Op: "user.add", User: &u, Hash: u.PasswordHash})
	return err
}

// SetPassword implements store.Accounts.
func (l *Log) SetPassword(ctx context.Context, name, hash string) error {
	_, err := l.op(ctx, &wireMsg{Op: "user.password", Name: name, Hash: hash})
	return err
}

// SetRole implements store.Accounts.
func (l *Log) SetRole(ctx context.Context, name string, role store.Role) error {
	_, err := l.op(ctx, &wireMsg{Op: "user.role", Name: name, Role: role})
	return err
}

// RemoveUser implements store.Accounts.
func (l *Log) RemoveUser(ctx context.Context, name string) error {
	_, err := l.op(ctx, &wireMsg{Op: "user.remove", Name: name})
	return err
}

// AddCredential implements store.Accounts.
func (l *Log) AddCredential(ctx context.Context, hash []byte, c store.Credential) error {
	_, err := l.op(ctx, &wireMsg{Op: "cred.add", Key: hash, Cred: &c})
	return err
}

// RevokeCredentials implements store.Accounts. A function cannot travel
// in the stream: the credentials match selects on this node's replica are
// revoked by id on every node.
func (l *Log) RevokeCredentials(ctx context.Context, match func(store.Credential) bool) (int, error) {
	creds, err := l.DB.Credentials(ctx, "")
	if err != nil {
		return 0, err
	}
	var ids []string
	for _, c := range creds {
		if match(c) {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	res, err := l.op(ctx, &wireMsg{Op: "cred.revoke", IDs: ids})
	n, _ := res.(int)
	return n, err
}

// AddInvite implements store.Accounts.
func (l *Log) AddInvite(ctx context.Context, hash []byte, inv store.Invite) error {
	_, err := l.op(ctx, &wireMsg{Op: "invite.add", Key: hash, Invite: &inv})
	return err
}

// RevokeInvite implements store.Accounts.
func (l *Log) RevokeInvite(ctx context.Context, room, id string) error {
	_, err := l.op(ctx, &wireMsg{Op: "invite.revoke", Room: room, ID: id})
	return err
}

// RedeemInvite implements store.Accounts. The stream decides which of two
// guests redeeming an invite's last use through two nodes gets it.
func (l *Log) RedeemInvite(ctx context.Context, codeHash []byte, now time.Time, sessHash []byte, sess store.Credential) (store.Invite, store.Credential, error) {
	res, err := l.op(ctx, &wireMsg{Op: "invite.redeem", Key: codeHash, Now: now, SessKey: sessHash, Cred: &sess})
	r, _ := res.(redeemed)
	return r.inv, r.cred, err
}

// SetRoomAccess implements store.Accounts.
func (l *Log) SetRoomAccess(ctx context.Context, ra store.RoomAccess) error {
	_, err := l.op(ctx, &wireMsg{Op: "room.access", Access: &ra})
	return err
}

// SetRoomMember implements store.Accounts.
func (l *Log) SetRoomMember(ctx context.Context, room, user string, member bool) (store.RoomAccess, error) {
	res, err := l.op(ctx, &wireMsg{Op: "room.member", Room: room, Name: user, Member: member})
	ra, _ := res.(store.RoomAccess)
	return ra, err
}

// SetRoomRetention implements store.Log.
func (l *Log) SetRoomRetention(ctx context.Context, room string, r *store.Retention) error {
	if err := store.ValidateRoom(room); err != nil {
		return err
	}
	_, err := l.op(ctx, &wireMsg{Op: "room.retention", Room: room, Setting: r})
	return err
}

// SetMark implements store.Marks.
func (l *Log) SetMark(ctx context.Context, person, room string, id ulid.ULID) (ulid.ULID, error) {
	res, err := l.op(ctx, &wireMsg{Op: "mark", Person: person, Room: room, Mark: id})
	mark, _ := res.(ulid.ULID)
	return mark, err
}

// Identify implements store.Accounts. A credential made through another
// node may not be applied here yet: a miss looks again (lookFresh), so a
// token made on node A works on node B at once, without the caller's
// Synced.
func (l *Log) Identify(ctx context.Context, hash []byte, now time.Time) (c store.Credential, u store.User, err error) {
	err = l.lookFresh(ctx, func() error {
		c, u, err = l.DB.Identify(ctx, hash, now)
		return err
	})
	return c, u, err
}

// lookFresh runs look on this node's replica, and again if it finds
// nothing (Synced).
func (l *Log) lookFresh(ctx context.Context, look func() error) error {
	var err error
	l.Synced(ctx, func() (bool, error) {
		err = look()
		return !errors.Is(err, store.ErrNotFound), nil
	})
	return err
}

// Synced implements store.Syncer.
func (l *Log) Synced(ctx context.Context, check func() (bool, error)) (bool, error) {
	before := l.AppliedSeq()
	ok, err := check()
	if ok || err != nil {
		return ok, err
	}
	if l.barrier(ctx); l.AppliedSeq() > before {
		return check()
	}
	return false, nil
}

// barrier waits until this node has applied the stream's last message as
// of now, at most 5 s.
func (l *Log) barrier(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	last, err := l.lastStored(ctx)
	if err == nil && l.AppliedSeq() < last {
		l.waitApplied(ctx, last)
	}
}

// lastStored returns the sequence of the stream's last message as the
// stream's leader has it (0: none). Not stream info: while a stream is new,
// NATS lets the peer it first preferred answer info as well, with what that
// peer has applied, which can be behind what the leader acknowledged; a
// message get is answered by the leader alone (the stream is made without
// direct gets, which any peer answers). A last message that was erased is
// not returned but the one before it, which this node applies (the erased
// one is applied as its gap record: applyErasedTail).
func (l *Log) lastStored(ctx context.Context) (uint64, error) {
	m, err := l.stream.GetLastMsgForSubject(ctx, l.Prefix+".>")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}
