package awsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The AWS JSON 1.1 wire format of kmsd's protobuf messages. Member names
// are the fields' json_name (the AWS member names), so the messages map
// one to one; the encoding differs from protojson where AWS's does:
// timestamps are numbers of seconds since the epoch (not RFC 3339
// strings), 64-bit integers are numbers (not strings), blobs are standard
// base64. Unknown members are ignored, null is absent, and a member of the
// wrong type is a SerializationException naming it.

var timestampName = (&timestamppb.Timestamp{}).ProtoReflect().Descriptor().FullName()

// errSerialization is a request body that does not decode.
type errSerialization struct{ msg string }

func (e *errSerialization) Error() string { return e.msg }

func serializationError(format string, args ...any) error {
	return &errSerialization{msg: fmt.Sprintf(format, args...)}
}

// decodeJSON fills m from an AWS JSON body ("" is {}).
func decodeJSON(body []byte, m proto.Message) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeMessage(json.RawMessage(body), m.ProtoReflect(), "")
}

func decodeMessage(raw json.RawMessage, r protoreflect.Message, path string) error {
	var obj map[string]json.RawMessage
	if err := unmarshal(raw, &obj); err != nil {
		return serializationError("%s must be a JSON object", orRoot(path))
	}
	fields := r.Descriptor().Fields()
	for name, v := range obj {
		fd := fields.ByJSONName(name)
		if fd == nil || isNull(v) {
			continue
		}
		p := path + name
		switch {
		case fd.IsMap():
			var mv map[string]*string
			if err := unmarshal(v, &mv); err != nil {
				return serializationError("%s must be an object of strings", p)
			}
			mp := r.Mutable(fd).Map()
			for k, s := range mv {
				if s == nil {
					return serializationError("%s.%s must be a string", p, k)
				}
				mp.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(*s))
			}
		case fd.IsList():
			var items []json.RawMessage
			if err := unmarshal(v, &items); err != nil {
				return serializationError("%s must be a list", p)
			}
			l := r.Mutable(fd).List()
			for i, it := range items {
				ip := p + "[" + strconv.Itoa(i) + "]"
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					if err := decodeValueMessage(it, fd, e.Message(), ip); err != nil {
						return err
					}
					l.Append(e)
					continue
				}
				val, err := decodeScalar(it, fd, ip)
				if err != nil {
					return err
				}
				l.Append(val)
			}
		case fd.Kind() == protoreflect.MessageKind:
			if err := decodeValueMessage(v, fd, r.Mutable(fd).Message(), p); err != nil {
				return err
			}
		default:
			val, err := decodeScalar(v, fd, p)
			if err != nil {
				return err
			}
			r.Set(fd, val)
		}
	}
	return nil
}

// decodeValueMessage decodes a nested message: a timestamp is a number of
// seconds since the epoch.
func decodeValueMessage(v json.RawMessage, fd protoreflect.FieldDescriptor, m protoreflect.Message, path string) error {
	if fd.Message().FullName() != timestampName {
		return decodeMessage(v, m, path+".")
	}
	var f float64
	if err := unmarshal(v, &f); err != nil || math.IsNaN(f) || f < 0 || f > 253402300799 {
		return serializationError("%s must be a number of seconds since 1970-01-01", path)
	}
	// AWS timestamps have millisecond precision; rounding the whole
	// number of milliseconds (exact in a float64 below 2^53) makes
	// encode(decode(x)) stable.
	ms := int64(math.Round(f * 1000))
	ts := timestamppb.New(time.UnixMilli(ms).UTC())
	proto.Merge(m.Interface(), ts)
	return nil
}

func decodeScalar(v json.RawMessage, fd protoreflect.FieldDescriptor, path string) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		s, ok := jsonString(v)
		if !ok {
			return protoreflect.Value{}, serializationError("%s must be a string", path)
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		switch string(v) {
		case "true":
			return protoreflect.ValueOfBool(true), nil
		case "false":
			return protoreflect.ValueOfBool(false), nil
		}
		return protoreflect.Value{}, serializationError("%s must be a boolean", path)
	case protoreflect.BytesKind:
		s, ok := jsonString(v)
		if !ok {
			return protoreflect.Value{}, serializationError("%s must be a base64 string", path)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return protoreflect.Value{}, serializationError("%s is not valid base64", path)
		}
		return protoreflect.ValueOfBytes(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		var n int32
		if err := unmarshal(v, &n); err != nil {
			return protoreflect.Value{}, serializationError("%s must be an integer (32-bit)", path)
		}
		return protoreflect.ValueOfInt32(n), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		var n int64
		if err := unmarshal(v, &n); err != nil {
			return protoreflect.Value{}, serializationError("%s must be an integer", path)
		}
		return protoreflect.ValueOfInt64(n), nil
	}
	return protoreflect.Value{}, serializationError("%s cannot be set through this API", path)
}

func unmarshal(v json.RawMessage, dst any) error { return json.Unmarshal(v, dst) }

// jsonString decodes a JSON string value. The body was checked as JSON as
// a whole, so a quoted value without escapes is its own text (invalid
// UTF-8 takes the slow path, which replaces it as encoding/json does).
func jsonString(v json.RawMessage) (string, bool) {
	if n := len(v); n >= 2 && v[0] == '"' && v[n-1] == '"' {
		if in := v[1 : n-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			return string(in), true
		}
	}
	var s string
	return s, unmarshal(v, &s) == nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func orRoot(p string) string {
	if p == "" {
		return "The request body"
	}
	return p
}

// encodeJSON appends the AWS JSON of m to b: the fields that are set, in
// field order.
func encodeJSON(b []byte, m proto.Message) []byte {
	if m == nil {
		return append(b, "{}"...)
	}
	return encodeMessage(b, m.ProtoReflect())
}

func encodeMessage(b []byte, r protoreflect.Message) []byte {
	b = append(b, '{')
	fields := r.Descriptor().Fields()
	first := true
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !r.Has(fd) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, fd.JSONName())
		b = append(b, ':')
		v := r.Get(fd)
		switch {
		case fd.IsMap():
			b = encodeMap(b, v.Map())
		case fd.IsList():
			l := v.List()
			b = append(b, '[')
			for j := range l.Len() {
				if j > 0 {
					b = append(b, ',')
				}
				b = encodeValue(b, fd, l.Get(j))
			}
			b = append(b, ']')
		default:
			b = encodeValue(b, fd, v)
		}
	}
	return append(b, '}')
}

func encodeMap(b []byte, mp protoreflect.Map) []byte {
	keys := make([]string, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k.String())
		return true
	})
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, mp.Get(protoreflect.ValueOfString(k).MapKey()).String())
	}
	return append(b, '}')
}

func encodeValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"')
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name()))
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	case protoreflect.MessageKind:
		if fd.Message().FullName() == timestampName {
			return appendEpoch(b, v.Message())
		}
		return encodeMessage(b, v.Message())
	}
	return append(b, "null"...)
}

// appendEpoch writes a timestamp as seconds since the epoch, with
// milliseconds when there are any.
func appendEpoch(b []byte, m protoreflect.Message) []byte {
	fields := m.Descriptor().Fields()
	sec := m.Get(fields.ByName("seconds")).Int()
	ms := m.Get(fields.ByName("nanos")).Int() / 1e6
	b = strconv.AppendInt(b, sec, 10)
	if ms > 0 {
		b = append(b, '.')
		b = append(b, fmt.Sprintf("%03d", ms)...)
	}
	return b
}

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
