// The benchmark's reference plugin: seven checks that report pass without looking at the
// declaration. Their rate is what the host costs per check (views, the call, the finding).
#include "iotreg/check.hpp"

namespace {

template <int N>
struct NullCheck {
  static constexpr const char* id = N == 1   ? "null-1"
                                    : N == 2 ? "null-2"
                                    : N == 3 ? "null-3"
                                    : N == 4 ? "null-4"
                                    : N == 5 ? "null-5"
                                    : N == 6 ? "null-6"
                                             : "null-7";
  static constexpr const char* title = "Passes without looking";
  static constexpr const char* requirement = "none";
  static constexpr const char* version = "1.0.0";
  static iotreg::Finding run(const iotreg::CheckInput&) { return iotreg::Finding::pass(); }
};

}  // namespace

IOTREG_PLUGIN("bench.null-checks", "1.0.0", "Reference checks for the checks benchmark",
              NullCheck<1>, NullCheck<2>, NullCheck<3>, NullCheck<4>, NullCheck<5>, NullCheck<6>,
              NullCheck<7>)
