/* The C ABI header lives in include/; this file gives the target a translation unit. */
#include "origo_engine.h"
