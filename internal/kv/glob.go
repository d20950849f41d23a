package kv

// Match reports whether str matches the Redis glob pattern: '*' any
// run, '?' any byte, '[abc]', '[^abc]', '[a-z]' classes and '\' escapes. It
// is Redis's stringmatchlen (util.c), case-sensitive, with its recursion on
// '*' bounded the same way: consecutive stars collapse and a failed tail
// match ends the search.
func Match(pattern, str []byte) bool {
	skip := false
	return globMatchImpl(pattern, str, &skip, 0)
}

func globMatchImpl(p, s []byte, skipLongerMatches *bool, nesting int) bool {
	// Protection against abusive patterns (Redis: nesting > 1000).
	if nesting > 1000 {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatchImpl(p[1:], s, skipLongerMatches, nesting+1) {
					return true
				}
				if *skipLongerMatches {
					return false
				}
				s = s[1:]
			}
			*skipLongerMatches = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if len(p) == 0 {
					break
				}
				if p[0] == '\\' && len(p) >= 2 {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if p[0] == ']' {
					break
				} else if len(p) >= 3 && p[1] == '-' {
					start, end := p[0], p[2]
					if start > end {
						start, end = end, start
					}
					if s[0] >= start && s[0] <= end {
						match = true
					}
					p = p[2:]
				} else if p[0] == s[0] {
					match = true
				}
				p = p[1:]
			}
			if len(p) == 0 {
				// Unterminated class: Redis steps back onto the last byte.
				p = []byte{']'}
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// MatchPrefix is the literal prefix of pattern: every key that matches it
// starts with the prefix, so a scan can start there and stop at its end.
func MatchPrefix(pattern []byte) []byte {
	var out []byte
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*', '?', '[':
			return out
		case '\\':
			if i+1 < len(pattern) {
				i++
				out = append(out, pattern[i])
				continue
			}
			return out
		default:
			out = append(out, c)
		}
	}
	return out
}
