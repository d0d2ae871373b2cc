// What a consumer looks a product up by (GET /public/lookup): the GTIN under its barcode and
// its brand and model. A GTIN is kept in one form whatever its length, and a brand and model
// are compared as the product's identity compares them (identity_key, DESIGN.md §2).
//
// Pure functions on values; safe from any thread. The hash is persisted in the registry's
// products (products.lookup_hash): it must never change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "registry/core/status.h"

namespace iotreg::model {

inline constexpr std::string_view kGtinField = "product.gtin";

// The GS1 check digit that `digits` (8, 12, 13 or 14 ASCII digits: GTIN-8, GTIN-12/UPC-A,
// GTIN-13/EAN-13, GTIN-14) should end with, computed from the others; nullopt when `digits` is
// not of that form. Its own last digit is not read, so a wrong one can be named.
std::optional<char> gtin_check_digit(std::string_view digits);

// Whether `digits` (as for gtin_check_digit) ends with the right GS1 check digit.
bool has_valid_gtin_check_digit(std::string_view digits);

// The GTIN as 14 digits (GTIN-8, -12 and -13 padded with leading zeros, as GS1 does), or
// kInvalidArgument saying what is wrong in words a consumer understands: not 8, 12, 13 or 14
// digits, or a wrong check digit (naming the digit expected). Spaces and hyphens between the
// digits, as printed under a barcode, are ignored.
Result<std::string> normalized_gtin(std::string_view text);

// A stable 64-bit FNV-1a hash of the identity keys of a brand and a model
// (identity_key(brand), identity_key(model)); equal for every spelling that is the same
// identity ("Lumora", " LUMORA "). Lookups compare the keys themselves, never the hash alone.
std::uint64_t brand_model_hash(std::string_view brand, std::string_view model);

}  // namespace iotreg::model
