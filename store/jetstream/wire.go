package jetstream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// Subjects of the stream, and the headers each message carries.
const (
	headerRules = "Parley-Rules"
	headerNode  = "Parley-Node"

	// rules is the version of the apply rules this code implements, and
	// writes on every message. A node meeting a message of a later version
	// stops rather than diverge; earlier versions it applies as they were.
	// 2: gap records may say a sequence produced nothing in a room it
	// created (room), or stand for a file registration (register); file
	// registrations and messages carrying files.
	rules = "2"
)

// knownRules reports whether a message written for apply rules v can be
// applied by this node: v is this node's version or an earlier one.
func knownRules(v string) bool {
	n, err := strconv.Atoi(v)
	cur, _ := strconv.Atoi(rules)
	return err == nil && n >= 1 && n <= cur && strconv.Itoa(n) == v
}

// wireMsg is the body of every stream message: an event, an import, a
// tick, or an op (an account, settings or marker change). Only what apply
// needs travels; ids and times are derived at apply.
type wireMsg struct {
	Kind  string     `json:"k"` // event, import, tick, op
	Event *wireEvent `json:"event,omitempty"`
	// Import is an imported event as exported, id and time included.
	Import json.RawMessage `json:"import,omitempty"`

	// A tick's cluster settings.
	Retention   *store.Retention `json:"retention,omitempty"`
	DedupWindow time.Duration    `json:"dedup_window,omitempty"`

	// An op and its arguments.
	Op      string            `json:"op,omitempty"`
	User    *store.User       `json:"user,omitempty"`
	Hash    string            `json:"hash,omitempty"` // a password hash
	Name    string            `json:"name,omitempty"`
	Role    store.Role        `json:"role,omitempty"`
	Key     []byte            `json:"key,omitempty"`      // hash of a credential's or invite's secret
	SessKey []byte            `json:"sess_key,omitempty"` // hash of a guest session's secret
	Cred    *store.Credential `json:"cred,omitempty"`
	Invite  *store.Invite     `json:"invite,omitempty"`
	IDs     []string          `json:"ids,omitempty"`
	Room    string            `json:"room,omitempty"`
	ID      string            `json:"id,omitempty"`
	Member  bool              `json:"member,omitempty"`
	Access  *store.RoomAccess `json:"access,omitempty"`
	Now     time.Time         `json:"now,omitzero"`
	Setting *store.Retention  `json:"setting,omitempty"` // a room's retention; nil: the default
	Person  string            `json:"person,omitempty"`
	Mark    ulid.ULID         `json:"mark,omitzero"`

	// A file registration: the file, the quota it was checked against
	// where it was taken, its thumbnail, and the object store object
	// holding the bytes.
	File  *store.File  `json:"file,omitempty"`
	Quota *store.Quota `json:"quota,omitempty"`
	Thumb *store.Thumb `json:"thumb,omitempty"`
	Obj   string       `json:"obj,omitempty"`
	// A tick's upload collection age.
	UploadTTL time.Duration `json:"upload_ttl,omitempty"`
}

// wireEvent is a posted event without id and time.
type wireEvent struct {
	Room     string    `json:"room"`
	Type     string    `json:"type"`
	Author   string    `json:"author"`
	Text     string    `json:"text,omitempty"`
	ClientID string    `json:"client_id,omitempty"`
	ReplyTo  ulid.ULID `json:"reply_to,omitzero"`
	Target   ulid.ULID `json:"target,omitzero"`
	Emoji    string    `json:"emoji,omitempty"`
	Remove   bool      `json:"remove,omitempty"`
	Moderate bool      `json:"moderate,omitempty"`
	// Files are the ids of the uploads a message carries; apply fills in
	// the rest from the replica's records.
	Files []string `json:"files,omitempty"`
}

func toWire(e store.Event) *wireEvent {
	w := &wireEvent{Room: e.Room, Type: e.Type, Author: e.Author, Text: e.Text, ClientID: e.ClientID,
		ReplyTo: e.ReplyTo, Target: e.Target, Emoji: e.Emoji, Remove: e.Remove, Moderate: e.Moderate}
	for _, f := range e.Files {
		w.Files = append(w.Files, f.ID)
	}
	return w
}

func (w *wireEvent) event() store.Event {
	e := store.Event{Room: w.Room, Type: w.Type, Author: w.Author, Text: w.Text, ClientID: w.ClientID,
		ReplyTo: w.ReplyTo, Target: w.Target, Emoji: w.Emoji, Remove: w.Remove, Moderate: w.Moderate}
	for _, id := range w.Files {
		e.Files = append(e.Files, store.FileRef{ID: id})
	}
	return e
}

// gapRecord says what applying a removed sequence did, without its text:
// a node that meets the sequence missing applies it instead.
type gapRecord struct {
	Seq     uint64          `json:"seq"`
	ChainMS int64           `json:"chain_ms"`
	Event   json.RawMessage `json:"applied,omitempty"` // the event as stored, text removed; none if it produced none
	Room    string          `json:"room,omitempty"`    // produced none: the room applying it created, if any
	// Register is, instead of an event, the file registration the
	// sequence made, without the file's name.
	Register *bolt.FileGap `json:"register,omitempty"`
}

// clientMsgID is the JetStream dedup id of an event with a client id: the
// same on every node, so a retry through another node is dropped.
func clientMsgID(e store.Event) string {
	h := sha256.Sum256([]byte(e.Room + "\x00" + e.Author + "\x00" + e.ClientID))
	return "cid-" + hex.EncodeToString(h[:16])
}

// randomMsgID dedups one request's own retries.
func randomMsgID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "req-" + hex.EncodeToString(b[:])
}

// Subjects, under the log's Prefix ("parley"): <prefix>.room.<room>.event
// and .import, <prefix>.acct (account, settings and marker changes),
// <prefix>.cluster (retention ticks), and in the gap stream
// <prefix>_gap.<seq>.
func (l *Log) roomSubject(room, what string) string { return l.Prefix + ".room." + room + "." + what }
func (l *Log) acctSubject() string                  { return l.Prefix + ".acct" }
func (l *Log) clusterSubject() string               { return l.Prefix + ".cluster" }
func (l *Log) gapSubject(seq uint64) string         { return l.Prefix + "_gap." + strconv.FormatUint(seq, 10) }

// entry decodes a stream message into what the replica applies, and says
// whether it changes accounts (who may use what).
func entry(seq uint64, stamp time.Time, data []byte) (bolt.Entry, bool, error) {
	en, m, err := decodeEntry(seq, stamp, data)
	return en, err == nil && m.Kind == "op" && m.Op != "mark" && m.Op != "room.retention" && !strings.HasPrefix(m.Op, "file."), err
}

func decodeEntry(seq uint64, stamp time.Time, data []byte) (bolt.Entry, *wireMsg, error) {
	en, m := bolt.Entry{Seq: seq, Stamp: stamp}, &wireMsg{}
	err := m.decodeInto(&en, data)
	return en, m, err
}

func (m *wireMsg) decodeInto(en *bolt.Entry, data []byte) error {
	seq := en.Seq
	if err := json.Unmarshal(data, m); err != nil {
		return fmt.Errorf("sequence %d: %w", seq, err)
	}
	switch m.Kind {
	case "event":
		if m.Event == nil {
			return fmt.Errorf("sequence %d: event missing", seq)
		}
		en.Kind, en.Event = bolt.EntryEvent, m.Event.event()
	case "import":
		en.Kind = bolt.EntryImport
		if err := en.Event.UnmarshalJSON(m.Import); err != nil {
			return fmt.Errorf("sequence %d: %w", seq, err)
		}
		en.Event.Derive()
	case "tick":
		en.Kind, en.DedupWindow, en.UploadTTL = bolt.EntryTick, m.DedupWindow, m.UploadTTL
		if m.Retention != nil {
			en.Retention = *m.Retention
		}
	case "op":
		op, err := m.op()
		if err != nil {
			return fmt.Errorf("sequence %d: %w", seq, err)
		}
		// A refused registration's file name leaves the stream.
		en.Kind, en.Op, en.EraseRefused = bolt.EntryOp, op, m.Op == "file.add"
	default:
		return fmt.Errorf("sequence %d: unknown kind %q", seq, m.Kind)
	}
	return nil
}

// gapEntry decodes a gap record.
func gapEntry(seq uint64, data []byte) (bolt.Entry, error) {
	var g gapRecord
	if err := json.Unmarshal(data, &g); err != nil || g.Seq != seq {
		return bolt.Entry{}, fmt.Errorf("gap record %d: bad record (%v)", seq, err)
	}
	en := bolt.Entry{Seq: seq, Kind: bolt.EntryGap, Chain: time.UnixMilli(g.ChainMS).UTC()}
	if r := g.Register; r != nil {
		en.Op = func(ctx context.Context, db *bolt.DB) (any, error) {
			return db.RegisterFile(ctx, r.File, store.Quota{}, r.Obj)
		}
		return en, nil
	}
	if len(g.Event) > 0 {
		if err := en.Event.UnmarshalJSON(g.Event); err != nil {
			return en, fmt.Errorf("gap record %d: %w", seq, err)
		}
	} else {
		en.Event.Room = g.Room
	}
	return en, nil
}

// op returns the function that applies an op to a replica, through the
// same Accounts and settings methods a single node uses.
func (m *wireMsg) op() (func(ctx context.Context, db *bolt.DB) (any, error), error) {
	switch m.Op {
	case "user.add":
		if m.User == nil {
			break
		}
		u := *m.User
		u.PasswordHash = m.Hash
		return func(ctx context.Context, db *bolt.DB) (any, error) { return nil, db.AddUser(ctx, u) }, nil
	case "user.password":
		return func(ctx context.Context, db *bolt.DB) (any, error) { return nil, db.SetPassword(ctx, m.Name, m.Hash) }, nil
	case "user.role":
		return func(ctx context.Context, db *bolt.DB) (any, error) { return nil, db.SetRole(ctx, m.Name, m.Role) }, nil
	case "user.remove":
		return func(ctx context.Context, db *bolt.DB) (any, error) { return nil, db.RemoveUser(ctx, m.Name) }, nil
	case "cred.add":
		if m.Cred == nil {
			break
		}
		return func(ctx context.Context, db *bolt.DB) (any, error) { return nil, db.AddCredential(ctx, m.Key, *m.Cred) }, nil
	case "cred.revoke":
		ids := map[string]bool{}
		for _, id := range m.IDs {
			ids[id] = true
		}
		return func(ctx context.Context, db *bolt.DB) (any, error) {
			return db.RevokeCredentials(ctx, func(c store.Credential) bool { return ids[c.ID] })
		}, nil
	case "invite.add":
		if m.Invite == nil {
			break
		}
		return func(ctx context.Context, db *bolt.DB) (any, error) { return nil, db.AddInvite(ctx, m.Key, *m.Invite) }, nil
	case "invite.revoke":
		return func(ctx context.Context, db *bolt.DB) (any, error) { return nil, db.RevokeInvite(ctx, m.Room, m.ID) }, nil
	case "invite.redeem":
		if m.Cred == nil {
			break
		}
		return func(ctx context.Context, db *bolt.DB) (any, error) {
			inv, c, err := db.RedeemInvite(ctx, m.Key, m.Now, m.SessKey, *m.Cred)
			return redeemed{inv, c}, err
		}, nil
	case "room.access":
		if m.Access == nil {
			break
		}
		return func(ctx context.Context, db *bolt.DB) (any, error) { return nil, db.SetRoomAccess(ctx, *m.Access) }, nil
	case "room.member":
		return func(ctx context.Context, db *bolt.DB) (any, error) {
			return db.SetRoomMember(ctx, m.Room, m.Name, m.Member)
		}, nil
	case "room.retention":
		return func(ctx context.Context, db *bolt.DB) (any, error) {
			return nil, db.SetRoomRetention(ctx, m.Room, m.Setting)
		}, nil
	case "mark":
		return func(ctx context.Context, db *bolt.DB) (any, error) {
			return db.SetMark(ctx, m.Person, m.Room, m.Mark)
		}, nil
	case "file.add":
		if m.File == nil || m.Quota == nil {
			break
		}
		return func(ctx context.Context, db *bolt.DB) (any, error) {
			return db.RegisterFile(ctx, *m.File, *m.Quota, m.Obj)
		}, nil
	case "file.thumb":
		if m.Thumb == nil {
			break
		}
		return func(ctx context.Context, db *bolt.DB) (any, error) {
			return nil, db.RegisterThumb(ctx, m.ID, *m.Thumb, m.Obj)
		}, nil
	case "file.collect":
		return func(ctx context.Context, db *bolt.DB) (any, error) {
			return db.CollectFiles(ctx, m.Now)
		}, nil
	default:
		return nil, fmt.Errorf("unknown op %q", m.Op)
	}
	return nil, fmt.Errorf("op %s: arguments missing", m.Op)
}

// redeemed is the result of an invite.redeem op.
type redeemed struct {
	inv  store.Invite
	cred store.Credential
}
