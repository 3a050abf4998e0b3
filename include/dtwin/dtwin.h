/** @file
 * dtwin: embeddable runtime for digital twins. Umbrella header. */
#ifndef DTWIN_DTWIN_H
#define DTWIN_DTWIN_H

#include "dtwin/adapter.h"
#include "dtwin/bus.h"
#include "dtwin/buswire.h"
#include "dtwin/alloc.h"
#include "dtwin/clock.h"
#include "dtwin/cmdauth.h"
#include "dtwin/composite.h"
#include "dtwin/control.h"
#include "dtwin/error.h"
#include "dtwin/estimator.h"
#include "dtwin/event.h"
#include "dtwin/export.h"
#include "dtwin/filter.h"
#include "dtwin/fusion.h"
#include "dtwin/keys.h"
#include "dtwin/ingest.h"
#include "dtwin/linalg.h"
#include "dtwin/log.h"
#include "dtwin/model.h"
#include "dtwin/plane.h"
#include "dtwin/ring.h"
#include "dtwin/sample.h"
#include "dtwin/time.h"
#include "dtwin/twin.h"
#include "dtwin/udp.h"
#include "dtwin/version.h"
#include "dtwin/wire.h"

#endif
