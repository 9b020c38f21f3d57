/* cli_model.c — the model a command runs: a float or quantized (QDQ / QLinear*) ONNX file, or a float
 * ONNX file plus an AIMET encodings file (what a pipeline's export_encodings wrote). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "session/session.h"

int cli_model_load(const char *cmd, const char *path, const char *encodings_path, cli_model *m) {
    *m = (cli_model){0};
    qp_status st;
    if (!encodings_path) {
        if ((st = qp_model_load_any(path, &m->graph, &m->encodings, &m->qdq)) != QP_OK) return cli_fail(cmd, st);
        return QP_EXIT_OK;
    }
    /* The encodings name tensors of the float graph as a session sees it (constants made
     * initializers), so the file is read through a session, which keeps owning that graph. */
    if ((st = qp_session_new(&m->session)) != QP_OK) return cli_fail(cmd, st);
    qp_session_set_verbosity(m->session, QP_LOG_WARN);
    if ((st = qp_session_load_model(m->session, path)) != QP_OK ||
        (st = qp_session_import_encodings(m->session, encodings_path, NULL)) != QP_OK) {
        int rc = cli_fail(cmd, st);
        if (strstr(qp_error_message(), "is not in the model"))
            fprintf(stderr, "qpipe %s: note: --encodings must name the tensors of %s as the file has them; a pipeline "
                            "whose passes rewrote the graph (fold_bn folding BatchNormalization or bias Adds) names "
                            "tensors of the rewritten model: export that with export_qdq and run the QDQ file\n",
                    cmd, path);
        cli_model_free(m);
        return rc;
    }
    m->graph = qp_session_graph(m->session);
    m->encodings = qp_encodings_clone(qp_session_encodings(m->session));
    if (!m->encodings) {
        cli_model_free(m);
        return cli_fail(cmd, qp_error(QP_ERR_NOMEM, "out of memory copying the encodings of %s", encodings_path));
    }
    return QP_EXIT_OK;
}

void cli_model_free(cli_model *m) {
    if (m->session) qp_session_free(m->session); /* owns m->graph */
    else qp_graph_free(m->graph);
    qp_encodings_free(m->encodings);
    *m = (cli_model){0};
}
