// Peer for bench_kf: the same filter with Eigen fixed-size matrices, in the
// two usual forms (explicit inverse of S, and an LLT solve). Bench only.
#include <chrono>

#include <Eigen/Dense>

namespace {

template <int N, int M>
double run(const double *F_, const double *Q_, const double *H_, const double *R_,
           const double *x0, const double *P0, const double *z, int steps, int form,
           double *xout)
{
    using MatN = Eigen::Matrix<double, N, N, Eigen::RowMajor>;
    using MatMN = Eigen::Matrix<double, M, N, Eigen::RowMajor>;
    using MatM = Eigen::Matrix<double, M, M, Eigen::RowMajor>;
    using VecN = Eigen::Matrix<double, N, 1>;
    using VecM = Eigen::Matrix<double, M, 1>;
    const MatN F = Eigen::Map<const MatN>(F_), Q = Eigen::Map<const MatN>(Q_);
    const MatMN H = Eigen::Map<const MatMN>(H_);
    const MatM R = Eigen::Map<const MatM>(R_);
    VecN x = Eigen::Map<const VecN>(x0);
    MatN P = Eigen::Map<const MatN>(P0);
    const MatN I = MatN::Identity();
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < steps; k++) {
        x = F * x;
        P = F * P * F.transpose() + Q;
        const VecM zk = Eigen::Map<const VecM>(z + (size_t)k * M);
        const MatM S = H * P * H.transpose() + R;
        Eigen::Matrix<double, N, M> K;
        if (form == 0)
            K = P * H.transpose() * S.inverse();
        else
            K = S.llt().solve(H * P).transpose();
        x += K * (zk - H * x);
        const MatN IKH = I - K * H;
        P = IKH * P * IKH.transpose() + K * R * K.transpose();
    }
    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < N; i++)
        xout[i] = x(i);
    return std::chrono::duration<double>(t1 - t0).count();
}

} // namespace

extern "C" double dt_bench_eigen(int n, int m, const double *F, const double *Q,
                                 const double *H, const double *R, const double *x0,
                                 const double *P0, const double *z, int steps, int form,
                                 double *xout)
{
    if (n == 4 && m == 2)
        return run<4, 2>(F, Q, H, R, x0, P0, z, steps, form, xout);
    if (n == 6 && m == 3)
        return run<6, 3>(F, Q, H, R, x0, P0, z, steps, form, xout);
    if (n == 12 && m == 6)
        return run<12, 6>(F, Q, H, R, x0, P0, z, steps, form, xout);
    if (n == 24 && m == 8)
        return run<24, 8>(F, Q, H, R, x0, P0, z, steps, form, xout);
    return -1;
}
