/*
 * Live ingest: an encoder's long POST/PUT to <x>.isml/[Events(id)/]Streams(name), handed to the
 * engine as the body arrives (origo_ingest_* in origo_engine.h). No media knowledge here.
 */
#ifndef ORIGO_INGEST_H
#define ORIGO_INGEST_H

#include "httpd.h"
#include "origo_config.h"

/* Whether the request is an ingest attempt: POST or PUT with a virtual path after a .isml. */
int origo_ingest_wanted(const request_rec *r);

/* Reads the body into the engine and answers. `engine_ready` is the child's engine state. */
int origo_ingest_handler(request_rec *r, const origo_dir_config *conf, int engine_ready);

#endif
