package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// output formats responses: JSON in AWS's shape (the proto json_names are
// AWS's member names, in field order) or the AWS CLI's text form,
// optionally reduced to one value (--query) and with a binary field
// written to a file (--outfile).
type output struct {
	format  string
	query   []step
	outfile string
	field   string // the field --outfile takes
}

func newOutput(pa *parsedArgs, cmd *command) (*output, error) {
	o := &output{format: pa.strings["output"], outfile: pa.strings["outfile"], field: cmd.outfile}
	switch o.format {
	case "":
		o.format = "json"
	case "json", "text":
	default:
		return nil, usagef("--output must be json or text")
	}
	if o.outfile != "" && o.field == "" && !cmd.ownsOutfile {
		return nil, usagef("--outfile is not supported by %s", cmd.name)
	}
	if o.outfile != "" {
		// Checked before the call, so that a data key or ciphertext is
		// not made only to be lost.
		if fi, err := os.Stat(filepath.Dir(o.outfile)); err != nil || !fi.IsDir() {
			return nil, usagef("--outfile: %s is not a directory", filepath.Dir(o.outfile))
		}
	}
	if q, ok := pa.strings["query"]; ok {
		var err error
		if o.query, err = parseQuery(q); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// write prints resp: a protobuf response, or a plain value for commands
// that do not call kmsd.
func (o *output) write(w io.Writer, resp any) error {
	if resp == nil {
		return nil // the command printed its own output
	}
	if raw, ok := resp.(json.RawMessage); ok && o.query == nil && o.format == "json" {
		return writeRawJSON(w, raw)
	}
	if o.outfile != "" && o.field != "" {
		m, ok := resp.(proto.Message)
		if !ok {
			return fmt.Errorf("--outfile: response has no %s", o.field)
		}
		if err := writeOutfile(o.outfile, m, o.field); err != nil {
			return err
		}
	}
	v, err := toValue(resp)
	if err != nil {
		return err
	}
	if o.query != nil {
		v = evalQuery(v, o.query)
	} else if obj, ok := v.(object); ok && len(obj) == 0 {
		return nil // AWS prints nothing for an empty response
	}
	var b bytes.Buffer
	if o.format == "text" {
		textValue(&b, "", v)
	} else if err := writeJSON(&b, v); err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	return err
}

// writeRawJSON prints a JSON document indented as writeJSON does, without
// decoding it: its strings keep their exact bytes (an audit record printed
// this way still hashes to its leaf once compacted).
func writeRawJSON(w io.Writer, raw json.RawMessage) error {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "    "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

var jsonOptions = protojson.MarshalOptions{Multiline: true, Indent: "    "}

// toValue converts a response to an ordered JSON value.
func toValue(resp any) (any, error) {
	var b []byte
	var err error
	if m, ok := resp.(proto.Message); ok {
		b, err = jsonOptions.Marshal(m)
	} else {
		b, err = json.Marshal(resp)
	}
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return decodeValue(dec)
}

// writeOutfile writes the binary field of m to path (mode 0600) and clears
// it from the response.
func writeOutfile(path string, m proto.Message, field string) error {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByJSONName(field)
	if fd == nil || fd.Kind() != protoreflect.BytesKind {
		return fmt.Errorf("--outfile: response has no %s", field)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("--outfile: %w", err)
	}
	err = f.Chmod(0o600) // the file may have existed with looser permissions
	if err == nil {
		_, err = f.Write(r.Get(fd).Bytes())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--outfile: %w", err)
	}
	r.Clear(fd)
	return nil
}

// writeText prints v as the AWS CLI's text output: the scalars of an
// object on one tab-separated line in field order (headed by the
// upper-cased member name when nested, as AWS's KEYMETADATA line), then
// its nested objects and lists on lines of their own. A list of scalars is
// one line; each object in a list is a line of its own.
func textValue(b *bytes.Buffer, name string, v any) {
	head := []string{}
	if name != "" {
		head = append(head, strings.ToUpper(name))
	}
	switch t := v.(type) {
	case object:
		scalars := head
		for _, m := range t {
			if s, ok := scalar(m.val); ok {
				scalars = append(scalars, s)
			}
		}
		if len(scalars) > len(head) {
			fmt.Fprintln(b, strings.Join(scalars, "\t"))
		}
		for _, m := range t {
			if _, ok := scalar(m.val); !ok {
				textValue(b, m.key, m.val)
			}
		}
	case []any:
		scalars := head
		for _, e := range t {
			if s, ok := scalar(e); ok {
				scalars = append(scalars, s)
			} else {
				textValue(b, name, e)
			}
		}
		if len(scalars) > len(head) {
			fmt.Fprintln(b, strings.Join(scalars, "\t"))
		}
	default:
		s, _ := scalar(t)
		fmt.Fprintln(b, s)
	}
}

// scalar formats a JSON scalar as the AWS CLI's text output does.
func scalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		if t {
			return "True", true
		}
		return "False", true
	case json.Number:
		return t.String(), true
	case nil:
		return "None", true
	}
	return "", false
}
