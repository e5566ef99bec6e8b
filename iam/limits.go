package iam

// Limits on policy documents. They are checked by a scan of the raw bytes
// that allocates nothing, before any decoding, so a hostile document costs
// one pass over at most MaxPolicySize bytes.
const (
	// MaxPolicySize is the largest document accepted, in bytes: AWS's
	// limit for key policies (32 KiB).
	MaxPolicySize = 32 * 1024
	// MaxDepth is the deepest nesting of objects and arrays accepted. The
	// grammar needs 5: document, Statement array, statement, Condition,
	// operator, value array.
	MaxDepth = 8
	// MaxElements is the most JSON values (strings, numbers, literals,
	// objects and arrays, object keys included) a document may hold.
	MaxElements = 2048
	// MaxStatements is the most statements a document may hold.
	MaxStatements = 256

	// minBytesPerElement bounds the density of values: a document may
	// hold 64 values plus one per 8 bytes. Denser documents (long lists of
	// one-character strings, empty objects) are the shapes that expand
	// most when decoded; no policy a person writes is that dense.
	minBytesPerElement = 8
)

// prescan enforces the size, depth and element limits. It reads strings
// only to skip them and leaves every other syntax check to the decoder.
func prescan(doc []byte) error {
	if len(doc) > MaxPolicySize {
		return limitf("", "document is %d bytes; the limit is %d", len(doc), MaxPolicySize)
	}
	depth, elems := 0, 0
	scalar := false // inside a number or literal
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		isScalar := c == '-' || c == '.' || c == '+' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if isScalar && !scalar {
			elems++
		}
		scalar = isScalar
		switch c {
		case '"':
			elems++
			for i++; i < len(doc) && doc[i] != '"'; i++ {
				if doc[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			elems++
			depth++
			if depth > MaxDepth {
				return limitf("", "nesting deeper than %d", MaxDepth)
			}
		case '}', ']':
			depth--
		}
		if elems > MaxElements {
			return limitf("", "more than %d JSON values", MaxElements)
		}
	}
	if elems > 64+len(doc)/minBytesPerElement {
		return limitf("", "%d JSON values in %d bytes: more than 64 plus one per %d bytes", elems, len(doc), minBytesPerElement)
	}
	return nil
}
