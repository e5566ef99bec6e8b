package main

// List commands (list-keys, list-aliases, list-resource-tags) follow
// NextMarker and print every entry in one response, as the AWS CLI does.
// --limit asks for a single page of that size. --max-items N stops after N
// entries (pages are sized so that the last NextMarker is exact).
// --starting-token is a synonym of --marker.

// maxPage is the largest Limit the API accepts.
const maxPage = 1000

// firstMarker is where a listing starts.
func (c *call) firstMarker() string {
	if m := c.args.strings["marker"]; m != "" {
		return m
	}
	return c.args.strings["starting-token"]
}

// pageLimit is the Limit of the next request, given the entries so far.
func (c *call) pageLimit(have int) int32 {
	if c.args.set["limit"] {
		return c.args.ints["limit"]
	}
	if c.args.set["max-items"] {
		return int32(min(int(c.args.ints["max-items"])-have, maxPage))
	}
	return 0
}

// morePages reports whether to fetch the next page.
func (c *call) morePages(have int, truncated bool) bool {
	switch {
	case !truncated || c.args.set["limit"]:
		return false
	case c.args.set["max-items"]:
		return have < int(c.args.ints["max-items"])
	}
	return true
}
