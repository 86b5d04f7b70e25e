// Errors thrown to JavaScript: a plain Error carrying `errno` (number), `code` ('EPERM'), `op` (the
// system call or libbpf function that failed) and a message that says what to do about it, so the
// TypeScript side can branch on `code` and log the message as it is.
#pragma once

#include <napi.h>

#include <string>

namespace weft {

// "EPERM" for EPERM; "E<n>" for a number the C library does not name.
std::string ErrnoName(int err);

// Builds the error: message is "<op>(<subject>): <CODE>: <hint>", hint defaulting to strerror.
Napi::Error SystemError(Napi::Env env, const std::string& op, const std::string& subject, int err,
                        const std::string& hint = std::string());

// The usual fix for errno values that mean "not privileged enough".
std::string PrivilegeHint(int err, const std::string& what);

// Bad arguments from JavaScript: a TypeError with code ERR_INVALID_ARG_VALUE.
Napi::Error ArgumentError(Napi::Env env, const std::string& message);

}  // namespace weft
