package redisstore

// A message's record is one string, so that the admission makes it, with
// its expiry, in one command (SET NX GET PX) and a settle rewrites it in
// one (SET XX GET KEEPTTL): a hash cost three commands to make and three to
// settle.
//
// Its values:
//
//	delivered                    the reply went out
//	done:<reply>                 no channel took the reply; the next delivery carries it
//	v2|<s>|<pf>|<token>|<owner>|<tail>
//	                             owned: s is a (active) or d (done, the reply ready),
//	                             pf 1 while a post of the reply may be on its way
//
// The first two are what the version before the ledger wrote, so that
// versions on either side of an upgrade read each other's finished
// records; an older version takes an owned record for a busy one. The
// tail, which the scripts never read, is
//
//	<at>|<ia>|<len(intent)>|<intent><len(reply)>|<reply><payload>
//
// at: when the message was admitted, ia: when its intent was recorded (ms
// on the recording process's clock), intent: the JSON of the write it may
// send, reply: the reply once done, payload: the message as it arrived.

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

const (
	recDelivered = "delivered"
	recCarry     = "done:"
	recOwned     = "v2|"
)

// record is an owned record, decoded.
type record struct {
	state   string // stateActive or stateDone
	posting bool
	token   int64
	owner   string
	at, ia  int64
	intent  []byte
	reply   []byte
	payload []byte
}

// stateCode is a state's letter in a record.
func stateCode(state string) string {
	if state == stateDone {
		return "d"
	}
	return "a"
}

// encodeTail is the tail of a record: what the scripts never read.
func encodeTail(at, ia int64, intent, reply, payload []byte) []byte {
	b := make([]byte, 0, 48+len(intent)+len(reply)+len(payload))
	b = strconv.AppendInt(b, at, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, ia, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(len(intent)), 10)
	b = append(b, '|')
	b = append(b, intent...)
	b = strconv.AppendInt(b, int64(len(reply)), 10)
	b = append(b, '|')
	b = append(b, reply...)
	return append(b, payload...)
}

// encode is the whole record.
func (r record) encode() []byte {
	tail := encodeTail(r.at, r.ia, r.intent, r.reply, r.payload)
	b := make([]byte, 0, 32+len(r.owner)+len(tail))
	b = append(b, recOwned...)
	b = append(b, stateCode(r.state)...)
	if r.posting {
		b = append(b, "|1|"...)
	} else {
		b = append(b, "|0|"...)
	}
	b = strconv.AppendInt(b, r.token, 10)
	b = append(b, '|')
	b = append(b, r.owner...)
	b = append(b, '|')
	return append(b, tail...)
}

var errRecord = errors.New("malformed message record")

// decodeRecord reads an owned record (one that starts with recOwned).
func decodeRecord(v string) (record, error) {
	var r record
	f := strings.SplitN(strings.TrimPrefix(v, recOwned), "|", 5)
	if len(f) != 5 || !strings.HasPrefix(v, recOwned) {
		return r, errRecord
	}
	r.state = stateActive
	if f[0] == "d" {
		r.state = stateDone
	}
	r.posting = f[1] == "1"
	var err error
	if r.token, err = strconv.ParseInt(f[2], 10, 64); err != nil {
		return r, errRecord
	}
	r.owner = f[3]
	tail := []byte(f[4])
	num := func() int64 {
		i := bytes.IndexByte(tail, '|')
		if i < 0 {
			err = errRecord
			return 0
		}
		n, perr := strconv.ParseInt(string(tail[:i]), 10, 64)
		if perr != nil || n < 0 {
			err = errRecord
		}
		tail = tail[i+1:]
		return n
	}
	field := func() []byte {
		n := num()
		if err != nil || int64(len(tail)) < n {
			err = errRecord
			return nil
		}
		out := tail[:n:n]
		tail = tail[n:]
		if n == 0 {
			return nil
		}
		return out
	}
	r.at, r.ia = num(), num()
	r.intent = field()
	r.reply = field()
	r.payload = tail
	return r, err
}

// luaTail builds a record's tail in a script as encodeTail does, from
// at, ia, intent, reply and payload.
const luaTail = `
local function tail(at, ia, intent, reply, payload)
  return at .. '|' .. ia .. '|' .. #intent .. '|' .. intent .. #reply .. '|' .. reply .. payload
end
`

// luaHeader parses an owned record's header: state, posting, token and
// owner, and where the tail begins; nil for any other value.
const luaHeader = `
local function header(v)
  if not v or string.sub(v, 1, 3) ~= 'v2|' then return nil end
  local s, pf, t, o, at = string.match(v, '^v2|(%a)|(%d)|(%d+)|([^|]*)|()')
  if not s then return nil end
  return {s = s, pf = pf, t = t, o = o, at = at}
end
`
