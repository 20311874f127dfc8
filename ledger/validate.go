package ledger

import "strconv"

// MaxAmount is the largest amount and balance Ordo accepts: 2^53-1, the
// largest integer every JSON implementation represents exactly.
const MaxAmount int64 = 1<<53 - 1

// MaxAccountIDLen is the longest account ID accepted.
const MaxAccountIDLen = 64

// isID reports whether s is 1 to max characters of [A-Za-z0-9._:-], not all
// of them dots. IDs are path segments (/v1/accounts/{id}): "." and ".." are
// removed by every client that normalises paths (RFC 3986 section 5.2.4),
// so such an account could be created but never reached; IDs of dots alone
// ("...") are refused with them, as one rule with no meaning lost. It is on
// every request's path, so it is a loop rather than a regexp.
func isID(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	dots := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			dots++
			continue
		}
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return dots < len(s)
}

// ValidateAccountID checks an account ID: 1-64 characters of
// [A-Za-z0-9._:-], not only dots.
func ValidateAccountID(field, id string) error {
	if !isID(id, MaxAccountIDLen) {
		return &FieldError{Field: field, Reason: "must be 1-64 characters of A-Z a-z 0-9 . _ : -, not only dots"}
	}
	return nil
}

// ValidateCurrency checks an ISO 4217 style code: three upper-case letters.
func ValidateCurrency(field, c string) error {
	if len(c) != 3 || !isUpper(c[0]) || !isUpper(c[1]) || !isUpper(c[2]) {
		return &FieldError{Field: field, Reason: "must be a three-letter upper-case currency code such as USD"}
	}
	return nil
}

// ParseAmount parses the literal text of a JSON number as an amount: a
// positive integer in minor units no larger than MaxAmount. Fractions,
// exponents, signs and leading zeros are rejected, so "1.0" and "1e2" are
// errors rather than silently rounded.
func ParseAmount(field, literal string) (int64, error) {
	if !isAmountLiteral(literal) {
		return 0, &FieldError{Field: field, Reason: "must be a positive integer in minor units"}
	}
	n, err := strconv.ParseInt(literal, 10, 64)
	if err != nil || n > MaxAmount {
		return 0, &FieldError{Field: field, Reason: "must not exceed 9007199254740991 (2^53-1)"}
	}
	return n, nil
}

// ParseLimit parses the literal text of a JSON number as a limit: an
// integer in minor units from 0 to MaxAmount, written like an amount (no
// sign, fraction, exponent or leading zero).
func ParseLimit(field, literal string) (int64, error) {
	if literal != "0" && !isAmountLiteral(literal) {
		return 0, &FieldError{Field: field, Reason: "must be an integer from 0 to 9007199254740991 in minor units"}
	}
	n, err := strconv.ParseInt(literal, 10, 64)
	if err != nil || n > MaxAmount {
		return 0, &FieldError{Field: field, Reason: "must not exceed 9007199254740991 (2^53-1)"}
	}
	return n, nil
}

// ValidateLimit checks a non-negative limit such as an overdraft limit.
func ValidateLimit(field string, n int64) error {
	if n < 0 || n > MaxAmount {
		return &FieldError{Field: field, Reason: "must be between 0 and 9007199254740991"}
	}
	return nil
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

// isAmountLiteral reports whether s is [1-9][0-9]*.
func isAmountLiteral(s string) bool {
	if len(s) == 0 || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
