/* op_util.c — small helpers every op implementation shares: broadcasting, axes, int reads. */
#include <string.h>

#include "engine/op.h"

qp_status qp_broadcast_shape(const qp_shape *a, const qp_shape *b, qp_shape *out) {
    int rank = a->rank > b->rank ? a->rank : b->rank;
    qp_shape result = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1)
            result.dims[i] = da;
        else if (da == 1)
            result.dims[i] = db;
        else {
            char sa[128], sb[128];
            return qp_error(QP_ERR_SHAPE, "shapes %s and %s do not broadcast",
                            qp_shape_str(a, sa, sizeof sa), qp_shape_str(b, sb, sizeof sb));
        }
    }
    *out = result;
    return QP_OK;
}

void qp_value_set(qp_value *value, qp_dtype dtype, const qp_shape *shape) {
    value->dtype = dtype;
    value->shape = *shape;
    int64_t n = qp_shape_numel(shape);
    value->nbytes = n > 0 ? (size_t)n * qp_dtype_size(dtype) : 0;
}

int64_t qp_value_get_int(const qp_value *v, int64_t i) {
    switch (v->dtype) {
    case QP_DT_INT64: return ((const int64_t *)v->data)[i];
    case QP_DT_INT32: return ((const int32_t *)v->data)[i];
    case QP_DT_INT16: return ((const int16_t *)v->data)[i];
    case QP_DT_INT8: return ((const int8_t *)v->data)[i];
    case QP_DT_UINT8: case QP_DT_BOOL: return ((const uint8_t *)v->data)[i];
    case QP_DT_UINT16: return ((const uint16_t *)v->data)[i];
    case QP_DT_UINT32: return ((const uint32_t *)v->data)[i];
    case QP_DT_UINT64: return (int64_t)((const uint64_t *)v->data)[i];
    case QP_DT_FLOAT: return (int64_t)((const float *)v->data)[i];
    case QP_DT_DOUBLE: return (int64_t)((const double *)v->data)[i];
    default: return 0;
    }
}

qp_status qp_normalize_axis(int64_t axis, int rank, int *out_axis, const qp_node *node) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= (rank > 0 ? rank : 1))
        return qp_error(QP_ERR_INVALID_MODEL, "node '%s' (%s): axis %lld out of range for rank %d",
                        node ? node->name : "", node ? node->op_type : "", (long long)axis, rank);
    *out_axis = (int)a;
    return QP_OK;
}
