package jsonguard

import "fmt"

// PostgreSQL's jsonb stores every JSON number as a numeric, which refuses
// ("value overflows numeric format") a number whose most significant digit
// lies 131,072 or more places before the decimal point, a number written
// with more than 16,383 digits after the point once its exponent is applied
// (the literal's own digits count, even trailing zeros: 100e-16385 is
// refused although 1e-16383 is not), and an exponent whose magnitude reaches
// 2^30-1 (even on zero). Measured against PostgreSQL 15 and 16 with the
// values in numbers_test.go; the limits are those of numeric since 9.x.
const (
	pgMaxWeightDigits = 131071    // highest power of ten a numeric holds (NBASE 10000 × weight 32767 + 3)
	pgMaxScale        = 16383     // NUMERIC_DSCALE_MAX
	pgMaxExponent     = 1<<30 - 1 // INT_MAX / 2: numeric_in refuses this and beyond
	maxNumberEcho     = 40        // bytes of an offending number echoed back
	expDigitsCap      = 1_000_000_000_000
)

// numberError names a number numeric cannot hold; off is where it starts.
func numberError(n []byte, off int) error {
	if len(n) > maxNumberEcho {
		n = append(n[:maxNumberEcho:maxNumberEcho], "..."...)
	}
	return &Error{Offset: off, Reason: fmt.Sprintf("the number %s is outside the range PostgreSQL can store "+
		"(at most 131072 digits before the decimal point and 16383 after), at byte %d", n, off)}
}

// numberFits reports whether the JSON number n (well-formed: Check has
// scanned it) is within numeric's range.
func numberFits(n []byte) bool {
	if len(n) > 0 && n[0] == '-' {
		n = n[1:]
	}
	var intPart, frac []byte
	i := 0
	for i < len(n) && '0' <= n[i] && n[i] <= '9' {
		i++
	}
	intPart = n[:i]
	if i < len(n) && n[i] == '.' {
		j := i + 1
		for j < len(n) && '0' <= n[j] && n[j] <= '9' {
			j++
		}
		frac = n[i+1 : j]
		i = j
	}
	exp := int64(0)
	if i < len(n) && (n[i] == 'e' || n[i] == 'E') {
		i++
		neg := false
		if i < len(n) && (n[i] == '+' || n[i] == '-') {
			neg = n[i] == '-'
			i++
		}
		for ; i < len(n) && '0' <= n[i] && n[i] <= '9'; i++ {
			if exp < expDigitsCap {
				exp = exp*10 + int64(n[i]-'0')
			}
		}
		if neg {
			exp = -exp
		}
	}
	if i != len(n) || len(intPart) == 0 {
		return true // not a JSON number: not reached from Check
	}
	if exp >= pgMaxExponent || exp <= -pgMaxExponent {
		return false
	}
	if int64(len(frac))-exp > pgMaxScale {
		return false
	}
	// The power of ten of the most significant digit; zero has none.
	for k, c := range intPart {
		if c != '0' {
			return int64(len(intPart)-1-k)+exp <= pgMaxWeightDigits
		}
	}
	for k, c := range frac {
		if c != '0' {
			return int64(-(k+1))+exp <= pgMaxWeightDigits
		}
	}
	return true
}
