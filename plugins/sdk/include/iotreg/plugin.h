/* iotreg check plugin ABI, version 1: the C boundary between the registry and a check plugin.
 *
 * A plugin is a shared library exporting one function, iotreg_plugin_entry, that returns a
 * descriptor with static lifetime. The host reads abi_version before any other field and
 * refuses a plugin built for another ABI. Everything crossing the boundary is a plain struct or
 * a (pointer, size) text; nothing is owned by the other side after a call returns; no C++
 * exception may leave a plugin function. Compatibility promise: within one ABI version,
 * fields are only ever appended to structs that carry struct_size.
 *
 * Threading: a check's run function may be called concurrently from several threads, each
 * call with its own input; it must not keep pointers into the input after it returns.
 * Checks never read the wall clock: the evaluation date is input->as_of. */
#ifndef IOTREG_PLUGIN_H
#define IOTREG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOTREG_PLUGIN_ABI_VERSION 1u
#define IOTREG_PLUGIN_ENTRY_SYMBOL "iotreg_plugin_entry"

#if defined(__GNUC__)
#define IOTREG_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define IOTREG_PLUGIN_EXPORT
#endif

/* UTF-8 text; not necessarily NUL-terminated. */
typedef struct iotreg_text {
  const char* data;
  size_t size;
} iotreg_text;

enum iotreg_value_type {
  IOTREG_VALUE_TEXT = 1,
  IOTREG_VALUE_BOOLEAN = 2,
  IOTREG_VALUE_INTEGER = 3,
  IOTREG_VALUE_TEXT_LIST = 4
};

/* One declared field, e.g. path "support.end_date" (see the declaration format). Only the
 * member matching `type` is meaningful. */
typedef struct iotreg_field {
  iotreg_text path;
  uint32_t type; /* enum iotreg_value_type */
  int32_t boolean_value;
  int64_t integer_value;
  iotreg_text text_value;
  const iotreg_text* items; /* IOTREG_VALUE_TEXT_LIST */
  size_t item_count;
} iotreg_field;

/* A declaration: its declared fields, sorted by path (bytewise), absent fields left out. */
typedef struct iotreg_declaration {
  const iotreg_field* fields;
  size_t field_count;
} iotreg_declaration;

/* A check parameter from the policy. Scalars have one value; booleans are "true"/"false". */
typedef struct iotreg_parameter {
  iotreg_text name;
  const iotreg_text* values;
  size_t value_count;
} iotreg_parameter;

typedef struct iotreg_check_input {
  uint32_t struct_size;                  /* sizeof(iotreg_check_input) as the host built it */
  const iotreg_declaration* declaration; /* the declaration being judged */
  const iotreg_declaration* earlier;     /* earlier versions of the same product, oldest first */
  size_t earlier_count;
  iotreg_text as_of;                  /* evaluation date, YYYY-MM-DD */
  iotreg_text policy_id;              /* e.g. "dcms-2019", for messages */
  const iotreg_parameter* parameters; /* this check's parameters in the active policy */
  size_t parameter_count;
} iotreg_check_input;

/* Outcomes a check may report. The host alone records `error` (a check that crashed, threw or
 * reported garbage). */
enum iotreg_outcome {
  IOTREG_PASS = 0,
  IOTREG_FAIL = 1,
  IOTREG_WARN = 2,
  IOTREG_NOT_APPLICABLE = 3
};

typedef struct iotreg_finding {
  uint32_t outcome;    /* enum iotreg_outcome */
  iotreg_text message; /* plain words: what is wrong, or why it passes */
  iotreg_text field;   /* the field path the finding is about; may be empty */
} iotreg_finding;

/* Reports the finding of one run. The host copies what it needs before returning. */
typedef void (*iotreg_report_fn)(void* host_context, const iotreg_finding* finding);

typedef struct iotreg_check {
  const char* id; /* stable, unique among loaded plugins, e.g. "default-password":
                     1-64 of a-z 0-9 . _ -, starting with a letter or digit */
  const char* title;
  const char* requirement; /* default citation, e.g. "EN 303 645 5.1-1"; a policy may override */
  const char* version;
  /* Judges input->declaration and reports exactly one finding. Returns 0, or non-zero when the
   * check could not judge: the host then records `error`, and when the check reported one
   * finding before returning, the error's message quotes that finding's message as the reason
   * (its outcome and field are ignored). */
  int (*run)(const iotreg_check_input* input, iotreg_report_fn report, void* host_context);
} iotreg_check;

typedef struct iotreg_plugin {
  uint32_t abi_version; /* IOTREG_PLUGIN_ABI_VERSION; always the first field */
  uint32_t struct_size; /* sizeof(iotreg_plugin) */
  const char* id;
  const char* version;
  const char* description;
  const iotreg_check* checks;
  size_t check_count;
} iotreg_plugin;

typedef const iotreg_plugin* (*iotreg_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* IOTREG_PLUGIN_H */
