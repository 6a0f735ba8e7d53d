//! Exact six-decimal rendering of a double, rounding half to even on its binary value.

/// Renders `x` with exactly six digits after the decimal point.
///
/// The rounding is round-half-to-even applied to the exact value of the
/// double (`m · 2^e`), never to an intermediate decimal approximation, so a
/// double that is exactly `x.xxxxxx5` rounds to the even sixth digit while the
/// nearest double to a decimal tie rounds the way its true value says. A minus
/// sign is written only when the rounded value is not zero. Non-finite values
/// render as `NaN`, `inf` and `-inf`.
///
/// # Examples
///
/// ```
/// use receipt_graph::format_fixed6;
/// // Six-decimal ties are exactly the odd multiples of 2^-7.
/// assert_eq!(format_fixed6(1.0078125), "1.007812"); // tie, 2 is even
/// assert_eq!(format_fixed6(1.0234375), "1.023438"); // tie, 7 rounds up to 8
/// // The double nearest to 0.0000125 lies just above the decimal tie.
/// assert_eq!(format_fixed6(0.0000125), "0.000013");
/// ```
pub fn format_fixed6(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let (mantissa, exponent) = decompose(x.abs());
    let digits = scaled_round_half_even(mantissa, exponent).to_decimal();
    let negative = x.is_sign_negative() && digits.bytes().any(|b| b != b'0');
    // At least seven digits so there is always an integer part.
    let padded = format!("{digits:0>7}");
    let (int_part, frac_part) = padded.split_at(padded.len() - 6);
    format!("{}{int_part}.{frac_part}", if negative { "-" } else { "" })
}

/// Splits a finite non-negative double into `(m, e)` with value `m · 2^e`.
fn decompose(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    }
}

/// `round_half_even(m · 2^e · 10^6)` as an unsigned big integer.
fn scaled_round_half_even(mantissa: u64, exponent: i32) -> BigUint {
    let scaled = u128::from(mantissa) * 1_000_000; // < 2^73
    if exponent >= 0 {
        return BigUint::from_u128(scaled).shl(exponent.unsigned_abs());
    }
    let shift = exponent.unsigned_abs();
    if shift >= 128 {
        // scaled < 2^73 <= 2^(shift - 1): strictly below one half, so it rounds to 0.
        return BigUint::from_u128(0);
    }
    let quotient = scaled >> shift;
    let remainder = scaled & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    let round_up = remainder > half || (remainder == half && quotient % 2 == 1);
    BigUint::from_u128(quotient + u128::from(round_up))
}

/// Just enough of an unsigned big integer to print `m · 2^e` for large `e`.
struct BigUint {
    /// Little-endian base-10^9 limbs.
    limbs: Vec<u32>,
}

const LIMB: u64 = 1_000_000_000;

impl BigUint {
    fn from_u128(mut v: u128) -> Self {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push((v % u128::from(LIMB)) as u32);
            v /= u128::from(LIMB);
        }
        Self { limbs }
    }

    fn shl(mut self, mut bits: u32) -> Self {
        while bits > 0 {
            let step = bits.min(32);
            let mut carry = 0u64;
            for limb in &mut self.limbs {
                let v = (u64::from(*limb) << step) + carry;
                *limb = (v % LIMB) as u32;
                carry = v / LIMB;
            }
            while carry > 0 {
                self.limbs.push((carry % LIMB) as u32);
                carry /= LIMB;
            }
            bits -= step;
        }
        self
    }

    fn to_decimal(&self) -> String {
        let Some((top, rest)) = self.limbs.split_last() else {
            return "0".to_owned();
        };
        let mut out = top.to_string();
        for limb in rest.iter().rev() {
            out.push_str(&format!("{limb:09}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::format_fixed6;

    /// The double exactly halfway between `units · 10^-6` and the next six-decimal value.
    fn exact_tie(units: u64) -> f64 {
        // units · 10^-6 + 5 · 10^-7 = (2·units + 1) / (2·10^6); representable
        // exactly when the denominator's factor 5^6 divides the numerator.
        let numerator = 2 * units + 1;
        assert_eq!(numerator % 15625, 0, "not an exact tie");
        numerator as f64 / 2_000_000.0
    }

    #[test]
    fn exact_ties_round_to_even() {
        // 0.0078125 = 2^-7 is exactly a tie between 0.007812 and 0.007813.
        assert_eq!(format_fixed6(0.0078125), "0.007812");
        // 0.0234375 = 3·2^-7: tie between 0.023437 and 0.023438.
        assert_eq!(format_fixed6(0.0234375), "0.023438");
        assert_eq!(format_fixed6(exact_tie(7812)), "0.007812");
        assert_eq!(format_fixed6(exact_tie(23437)), "0.023438");
        assert_eq!(format_fixed6(1.9921875), "1.992188");
        assert_eq!(format_fixed6(1.9765625), "1.976562");
        assert_eq!(format_fixed6(2.5 + 2f64.powi(-7)), "2.507812");
        assert_eq!(format_fixed6(-0.0078125), "-0.007812");
    }

    #[test]
    fn near_ties_follow_the_binary_value() {
        // Decimal ties that are not dyadic round by the double's true value:
        // 0.0000125 is stored as 1.25000000000000002e-5 and 0.0000135 as 1.34999999999999999e-5.
        assert_eq!(format_fixed6(0.0000125), "0.000013");
        assert_eq!(format_fixed6(0.0000135), "0.000013");
        let below = 0.0078125f64.next_down();
        let above = 0.0078125f64.next_up();
        assert_eq!(format_fixed6(below), "0.007812");
        assert_eq!(format_fixed6(above), "0.007813");
        assert_eq!(format_fixed6(0.0234375f64.next_down()), "0.023437");
    }

    #[test]
    fn edge_values() {
        assert_eq!(format_fixed6(0.0), "0.000000");
        assert_eq!(format_fixed6(-0.0), "0.000000");
        assert_eq!(format_fixed6(-1e-9), "0.000000");
        assert_eq!(format_fixed6(f64::MIN_POSITIVE / 4.0), "0.000000");
        assert_eq!(format_fixed6(4.0 / 3.0), "1.333333");
        assert_eq!(
            format_fixed6(2.0f64.powi(80)),
            "1208925819614629174706176.000000"
        );
        // Stored as 123456.99999949999…, just below the tie.
        assert_eq!(format_fixed6(123456.9999995), "123456.999999");
        assert_eq!(format_fixed6(123456.9999996), "123457.000000");
        assert_eq!(format_fixed6(f64::NAN), "NaN");
        assert!(format_fixed6(f64::MAX).starts_with("17976931348623157"));
    }

    #[test]
    fn agrees_with_exact_rational_reference_on_many_doubles() {
        // Reference: compare 10^6·x against its floor + 1/2 using exact
        // integer arithmetic on dyadic values with small exponents.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Dyadic rationals q / 2^s with s <= 40 cover ties and non-ties.
            let s = (state % 41) as i32;
            let q = (state >> 20) % (1 << 42);
            let x = q as f64 / 2f64.powi(s);
            let scaled = u128::from(q) * 1_000_000;
            let den = 1u128 << s;
            let (fl, rem) = (scaled / den, scaled % den);
            let up = 2 * rem > den || (2 * rem == den && fl % 2 == 1);
            let n = fl + u128::from(up);
            let expected = format!("{}.{:06}", n / 1_000_000, n % 1_000_000);
            assert_eq!(format_fixed6(x), expected, "x = {x:e}");
        }
    }
}
