#include "registry/model/product_class.h"

#include <array>
#include <string>
#include <vector>

namespace iotreg::model {
namespace {

// Tried in this order (see the header). Children's products and wearables come first: a baby
// monitor with a camera, or a children's smartwatch, is judged for who uses it. Phones and
// computers come before network equipment: "laptop with 5G modem" is a laptop.
constexpr std::string_view kChildren[] = {"baby", "babies", "child",  "children", "kid",
                                          "kids", "toy",    "infant", "nursery",  "toddler"};
constexpr std::string_view kWearables[] = {"smartwatch",      "watch",        "wearable",
                                           "fitness tracker", "fitness band", "smart ring",
                                           "smart glasses"};
constexpr std::string_view kCameras[] = {"camera", "cam", "webcam", "dashcam",
                                         "cctv",   "nvr", "dvr"};
constexpr std::string_view kSecurity[] = {"alarm",    "doorbell", "lock",   "siren",
                                          "detector", "intruder", "keypad", "security"};
constexpr std::string_view kComputing[] = {"smartphone", "phone",   "tablet",   "laptop",
                                           "computer",   "pc",      "notebook", "chromebook",
                                           "e reader",   "ereader", "console"};
constexpr std::string_view kNetwork[] = {"router",         "modem",        "mesh",    "extender",
                                         "repeater",       "access point", "gateway", "nas",
                                         "network switch", "powerline",    "firewall"};
constexpr std::string_view kEnergy[] = {"meter",    "chargepoint", "charger", "ev",
                                        "inverter", "solar",       "energy",  "battery"};
constexpr std::string_view kDisplays[] = {"tv",          "television",   "display",
                                          "monitor",     "projector",    "streaming stick",
                                          "set top box", "media player", "screen"};
constexpr std::string_view kAudio[] = {"speaker", "soundbar",       "headphone", "earbud",
                                       "headset", "radio",          "amplifier", "hifi",
                                       "audio",   "voice assistant"};
constexpr std::string_view kSmartHome[] = {
    "plug",       "socket",     "bulb",      "light",           "lamp",       "lighting",
    "thermostat", "hub",        "vacuum",    "appliance",       "fridge",     "refrigerator",
    "oven",       "cooker",     "kettle",    "washing machine", "dishwasher", "purifier",
    "heater",     "heating",    "blind",     "curtain",         "sensor",     "switch",
    "fan",        "humidifier", "sprinkler", "garage",          "feeder",     "smart home"};

constexpr std::array kClasses = {
    ProductClass{"children", "Children's products", kChildren},
    ProductClass{"wearable", "Wearables", kWearables},
    ProductClass{"camera", "Cameras", kCameras},
    ProductClass{"security", "Security and alarms", kSecurity},
    ProductClass{"computing", "Phones and computers", kComputing},
    ProductClass{"network", "Network equipment", kNetwork},
    ProductClass{"energy", "Energy and charging", kEnergy},
    ProductClass{"display", "TVs and displays", kDisplays},
    ProductClass{"audio", "Audio", kAudio},
    ProductClass{"smart_home", "Smart home", kSmartHome},
    ProductClass{"other", "Other", {}},
};

bool is_word_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Runs of ASCII letters and digits, lower-cased; anything else separates words.
std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (is_word_byte(c)) {
      word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

// A word of the type matches a keyword's word as itself or in its plural.
bool word_matches(std::string_view word, std::string_view keyword) {
  if (!word.starts_with(keyword)) return false;
  std::string_view rest = word.substr(keyword.size());
  return rest.empty() || rest == "s" || rest == "es";
}

// Each class's keywords split into words, in table order; built once.
struct SplitKeyword {
  std::string_view class_id;
  std::vector<std::string> parts;
};

const std::vector<SplitKeyword>& split_keywords() {
  static const std::vector<SplitKeyword> keywords = [] {
    std::vector<SplitKeyword> out;
    for (const ProductClass& product_class : kClasses) {
      for (std::string_view keyword : product_class.keywords) {
        out.push_back({product_class.id, words_of(keyword)});
      }
    }
    return out;
  }();
  return keywords;
}

bool contains_keyword(const std::vector<std::string>& words,
                      const std::vector<std::string>& parts) {
  if (parts.empty() || parts.size() > words.size()) return false;
  for (std::size_t start = 0; start + parts.size() <= words.size(); ++start) {
    std::size_t i = 0;
    while (i < parts.size() && word_matches(words[start + i], parts[i])) ++i;
    if (i == parts.size()) return true;
  }
  return false;
}

}  // namespace

std::span<const ProductClass> product_classes() { return kClasses; }

std::string_view product_class_of(std::string_view type) {
  const std::vector<std::string> words = words_of(type);
  for (const SplitKeyword& keyword : split_keywords()) {
    if (contains_keyword(words, keyword.parts)) return keyword.class_id;
  }
  return kClasses.back().id;
}

std::optional<ProductClass> find_product_class(std::string_view id) {
  for (const ProductClass& product_class : kClasses) {
    if (product_class.id == id) return product_class;
  }
  return std::nullopt;
}

}  // namespace iotreg::model
