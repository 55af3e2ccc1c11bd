/*
 * Directive parsing and per-directory configuration merging.
 */
#include "origo_config.h"

#include "apr_strings.h"
#include "http_log.h"

#include <errno.h>
#include <stdint.h>

extern module AP_MODULE_DECLARE_DATA origo_module;

void *origo_create_dir_config(apr_pool_t *p, char *dir)
{
    origo_dir_config *conf = apr_pcalloc(p, sizeof(*conf));
    (void)dir;
    conf->handle_ism = -1;
    conf->max_index_set = 0;
    conf->max_index_bytes = 0;
    return conf;
}

void *origo_merge_dir_config(apr_pool_t *p, void *base_, void *add_)
{
    const origo_dir_config *base = base_;
    const origo_dir_config *add = add_;
    origo_dir_config *merged = apr_pcalloc(p, sizeof(*merged));

    merged->handle_ism = add->handle_ism != -1 ? add->handle_ism : base->handle_ism;
    if (add->max_index_set) {
        merged->max_index_set = 1;
        merged->max_index_bytes = add->max_index_bytes;
    }
    else {
        merged->max_index_set = base->max_index_set;
        merged->max_index_bytes = base->max_index_bytes;
    }
    return merged;
}

const origo_dir_config *origo_dir_config_get(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &origo_module);
}

int origo_config_handles_ism(const origo_dir_config *conf)
{
    return conf != NULL && conf->handle_ism == 1;
}

static const char *set_handle_ism(cmd_parms *cmd, void *dconf, int flag)
{
    origo_dir_config *conf = dconf;
    (void)cmd;
    conf->handle_ism = flag ? 1 : 0;
    return NULL;
}

/*
 * OrigoMaxIndexSize <bytes>[K|M|G]: a positive byte count, optionally with a binary suffix
 * (K = 1024). 0 means "engine default".
 */
static const char *set_max_index_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    origo_dir_config *conf = dconf;
    char *end = NULL;
    apr_uint64_t unit = 1;
    apr_int64_t value;

    errno = 0;
    value = apr_strtoi64(arg, &end, 10);
    if (errno != 0 || end == arg || value < 0) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": not a byte count: ", arg, NULL);
    }
    if (*end != '\0') {
        switch (*end) {
        case 'k': case 'K': unit = APR_UINT64_C(1) << 10; break;
        case 'm': case 'M': unit = APR_UINT64_C(1) << 20; break;
        case 'g': case 'G': unit = APR_UINT64_C(1) << 30; break;
        default:
            return apr_pstrcat(cmd->pool, cmd->cmd->name, ": unknown size suffix in ", arg,
                               " (use K, M or G)", NULL);
        }
        if (end[1] != '\0') {
            return apr_pstrcat(cmd->pool, cmd->cmd->name, ": trailing characters in ", arg, NULL);
        }
    }
    if ((apr_uint64_t)value > UINT64_MAX / unit) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": too large: ", arg, NULL);
    }
    conf->max_index_bytes = (apr_uint64_t)value * unit;
    conf->max_index_set = 1;
    return NULL;
}

const command_rec origo_cmds[] = {
    AP_INIT_FLAG("UspHandleIsm", set_handle_ism, NULL, RSRC_CONF | ACCESS_CONF,
                 "On to serve virtual paths after .ism/.isml/.mp4 (and similar) files "
                 "with the Origo engine; default Off"),
    AP_INIT_TAKE1("OrigoMaxIndexSize", set_max_index_size, NULL, RSRC_CONF | ACCESS_CONF,
                  "Largest media index (moov) the engine reads into memory, in bytes "
                  "(suffix K, M or G allowed); 0 = engine default"),
    { NULL }
};
