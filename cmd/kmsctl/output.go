package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// output formats responses: JSON in AWS's shape (the proto json_names are
// AWS's member names) or the AWS CLI's text form, optionally reduced to
// one field (--query) and with a binary field written to a file (--outfile).
type output struct {
	format  string
	query   string
	outfile string
	field   string // the field --outfile takes
}

func newOutput(pa *parsedArgs, cmd *command) (*output, error) {
	o := &output{format: pa.strings["output"], query: pa.strings["query"], outfile: pa.strings["outfile"], field: cmd.outfile}
	switch o.format {
	case "":
		o.format = "json"
	case "json", "text":
	default:
		return nil, usagef("--output must be json or text")
	}
	if o.outfile != "" && o.field == "" {
		return nil, usagef("--outfile is not supported by %s", cmd.name)
	}
	return o, nil
}

func (o *output) write(w io.Writer, resp proto.Message) error {
	if o.outfile != "" {
		if err := o.writeOutfile(resp); err != nil {
			return err
		}
	}
	b, err := protojson.Marshal(resp)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if o.query != "" {
		v = query(v, o.query)
		if v == nil {
			return nil
		}
	} else if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return nil // AWS prints nothing for an empty response
	}
	if o.format == "text" {
		return writeText(w, v)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeOutfile writes the binary field to the file (mode 0600) and clears
// it from the response.
func (o *output) writeOutfile(resp proto.Message) error {
	m := resp.ProtoReflect()
	fd := m.Descriptor().Fields().ByJSONName(o.field)
	if fd == nil || fd.Kind() != protoreflect.BytesKind {
		return fmt.Errorf("response has no %s", o.field)
	}
	data := m.Get(fd).Bytes()
	f, err := os.OpenFile(o.outfile, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	m.Clear(fd)
	return f.Close()
}

// query walks a dotted path (KeyMetadata.KeyId, Keys.0.KeyId).
func query(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			v = t[p]
		case []any:
			var i int
			if _, err := fmt.Sscanf(p, "%d", &i); err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// writeText prints v as the AWS CLI's text output: scalars of an object on
// one tab-separated line in key order, nested objects and list items on
// lines of their own headed by the upper-cased key.
func writeText(w io.Writer, v any) error {
	var b bytes.Buffer
	textValue(&b, "", v)
	_, err := w.Write(b.Bytes())
	return err
}

func textValue(b *bytes.Buffer, name string, v any) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var scalars []string
		for _, k := range keys {
			if s, ok := scalar(t[k]); ok {
				scalars = append(scalars, s)
			}
		}
		if len(scalars) > 0 {
			if name != "" {
				scalars = append([]string{strings.ToUpper(name)}, scalars...)
			}
			fmt.Fprintln(b, strings.Join(scalars, "\t"))
		}
		for _, k := range keys {
			if _, ok := scalar(t[k]); !ok {
				textValue(b, k, t[k])
			}
		}
	case []any:
		var scalars []string
		for _, e := range t {
			if s, ok := scalar(e); ok {
				scalars = append(scalars, s)
			} else {
				textValue(b, name, e)
			}
		}
		if len(scalars) > 0 {
			fmt.Fprintln(b, strings.Join(append([]string{strings.ToUpper(name)}, scalars...), "\t"))
		}
	default:
		s, _ := scalar(t)
		fmt.Fprintln(b, s)
	}
}

func scalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		if t {
			return "True", true
		}
		return "False", true
	case float64:
		return fmt.Sprint(t), true
	case nil:
		return "None", true
	}
	return "", false
}
