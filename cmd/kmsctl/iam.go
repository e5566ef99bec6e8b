package main

import (
	"strings"

	"google.golang.org/protobuf/proto"
)

// textFlag returns a text flag's value, reading file://PATH. An empty
// value is left for kmsd to refuse.
func textFlag(c *call, name string) (string, error) {
	v := c.args.strings[name]
	if v == "" {
		return "", nil
	}
	if strings.HasPrefix(v, "file://") {
		return textParam(v)
	}
	return v, nil
}

// iamPages follows Marker through the pages of an IAM listing and prints
// every entry in one response, as the AWS CLI does. --max-items N stops
// after N entries (pages are sized so that the last Marker is exact);
// --starting-token (or --marker) is where to start.
func iamPages[R proto.Message](c *call, get func(marker string, maxItems int32) (R, error),
	add func(all, page R) int, count func(R) int) (R, error) {
	marker := c.firstMarker()
	var all R
	for have := 0; ; {
		var max int32
		if c.args.set["max-items"] {
			max = int32(min(int(c.args.ints["max-items"])-have, maxPage))
		}
		page, err := get(marker, max)
		if err != nil {
			return page, err
		}
		if have == 0 {
			all, have = page, count(page)
		} else {
			have = add(all, page)
		}
		truncated, next := pageState(page)
		if !truncated || c.args.set["max-items"] && have >= int(c.args.ints["max-items"]) {
			return all, nil
		}
		marker = next
	}
}

// pageState reads IsTruncated and Marker of an IAM listing's response.
func pageState(m proto.Message) (bool, string) {
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	truncated := r.Get(fields.ByJSONName("IsTruncated")).Bool()
	return truncated, r.Get(fields.ByJSONName("Marker")).String()
}
