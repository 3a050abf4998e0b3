/** @file
 * dtwin: symbol export macro. */
#ifndef DTWIN_EXPORT_H
#define DTWIN_EXPORT_H

/* The library is built with hidden visibility; only DT_API symbols are exported
 * from the shared object. DT_STATIC_DEFINE (set by the static target's usage
 * requirements) makes DT_API empty so a static link never pulls in attributes. */
#if defined(DT_STATIC_DEFINE)
#define DT_API
#elif defined(_WIN32)
#if defined(DT_BUILDING)
#define DT_API __declspec(dllexport)
#else
#define DT_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define DT_API __attribute__((visibility("default")))
#else
#define DT_API
#endif

#endif
