#!/usr/bin/env python3
"""reference.py: independent reference numbers for the optimizer and scheduler tests.

Writes tests/optim/ref_values.h (run: python3 tests/optim/reference.py > tests/optim/ref_values.h).
Plain Python floats (double precision), written from the algorithm boxes of the torch.optim
documentation and from torch.optim.lr_scheduler's *recursive* get_lr() forms (the C plugins use
closed forms, so the two agree only if both are right). It shares no code with the C side and
never reads the C results; the numbers are pasted into the tests through the generated header.
"""
import math

# The problem: f(p) = 1/2 sum a_i p_i^2 over two parameters, grad = a * p.
A = [[1.0, 2.0, 0.5, 3.0], [1.5, 0.25, 4.0]]
P0 = [[1.0, -2.0, 0.5, 3.0], [-1.0, 0.75, 2.0]]
LR_MULT = [1.0, 0.5]
WD_MULT = [1.0, 2.0]
STEPS = 5


def run(step_fn, lr):
    """step_fn(k, t, p, g, lr, wdm, state) updates p in place; returns values after each step"""
    p = [list(x) for x in P0]
    state = [dict() for _ in p]
    out = []
    for t in range(1, STEPS + 1):
        for k in range(len(p)):
            g = [A[k][i] * p[k][i] for i in range(len(p[k]))]
            step_fn(t, p[k], g, lr * LR_MULT[k], WD_MULT[k], state[k])
        out.append([v for x in p for v in x])
    return out


def sgd(momentum=0.0, dampening=0.0, nesterov=False, wd=0.0):
    def f(t, p, g, lr, wdm, st):
        for i in range(len(p)):
            d = g[i] + wd * wdm * p[i]
            if momentum != 0:
                if t > 1:
                    b = momentum * st.get(i, 0.0) + (1 - dampening) * d
                else:
                    b = d
                st[i] = b
                d = d + momentum * b if nesterov else b
            p[i] -= lr * d
    return f


def adam(b1=0.9, b2=0.999, eps=1e-8, wd=0.0, amsgrad=False, decoupled=False):
    def f(t, p, g, lr, wdm, st):
        for i in range(len(p)):
            d = g[i]
            if decoupled:
                p[i] *= 1 - lr * wd * wdm
            else:
                d = d + wd * wdm * p[i]
            m = b1 * st.get(('m', i), 0.0) + (1 - b1) * d
            v = b2 * st.get(('v', i), 0.0) + (1 - b2) * d * d
            st[('m', i)], st[('v', i)] = m, v
            mhat = m / (1 - b1 ** t)
            if amsgrad:
                vmax = max(st.get(('vmax', i), 0.0), v)
                st[('vmax', i)] = vmax
                if vmax > v:
                    st['ams_mattered'] = True
                vhat = vmax / (1 - b2 ** t)
            else:
                vhat = v / (1 - b2 ** t)
            p[i] -= lr * mhat / (math.sqrt(vhat) + eps)
    return f


def rmsprop(alpha=0.99, eps=1e-8, wd=0.0, momentum=0.0, centered=False):
    def f(t, p, g, lr, wdm, st):
        for i in range(len(p)):
            d = g[i] + wd * wdm * p[i]
            v = alpha * st.get(('v', i), 0.0) + (1 - alpha) * d * d
            st[('v', i)] = v
            vt = v
            if centered:
                ga = alpha * st.get(('g', i), 0.0) + (1 - alpha) * d
                st[('g', i)] = ga
                vt = v - ga * ga
            if momentum > 0:
                b = momentum * st.get(('b', i), 0.0) + d / (math.sqrt(vt) + eps)
                st[('b', i)] = b
                p[i] -= lr * b
            else:
                p[i] -= lr * d / (math.sqrt(vt) + eps)
    return f


def adagrad(lr_decay=0.0, wd=0.0, iav=0.0, eps=1e-10):
    def f(t, p, g, lr, wdm, st):
        clr = lr / (1 + (t - 1) * lr_decay)
        for i in range(len(p)):
            d = g[i] + wd * wdm * p[i]
            s = st.get(i, iav) + d * d
            st[i] = s
            p[i] -= clr * d / (math.sqrt(s) + eps)
    return f


# ---- schedulers: PyTorch's recursive get_lr(), stepped once per epoch (or batch) ----
def steplr(base, step_size, gamma, n):
    lr, out = base, [base]
    for e in range(1, n):
        if e % step_size == 0:
            lr *= gamma
        out.append(lr)
    return out


def multisteplr(base, milestones, gamma, n):
    lr, out = base, [base]
    for e in range(1, n):
        lr *= gamma ** milestones.count(e)
        out.append(lr)
    return out


def exponentiallr(base, gamma, n):
    lr, out = base, [base]
    for _ in range(1, n):
        lr *= gamma
        out.append(lr)
    return out


def cosinelr(base, t_max, eta_min, n):
    lr, out = base, [base]
    for e in range(1, n):
        if (e - 1 - t_max) % (2 * t_max) == 0:
            lr = lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        else:
            lr = ((1 + math.cos(math.pi * e / t_max)) / (1 + math.cos(math.pi * (e - 1) / t_max))
                  * (lr - eta_min) + eta_min)
        out.append(lr)
    return out


def warm_restarts(base, t_0, t_mult, eta_min, n):
    t_cur, t_i, out = 0, t_0, []
    for e in range(n):
        if e > 0:
            t_cur += 1
            if t_cur >= t_i:
                t_cur -= t_i
                t_i *= t_mult
        out.append(eta_min + (base - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
    return out


def plateau(base, metrics, mode='min', factor=0.1, patience=10, threshold=1e-4,
            threshold_mode='rel', cooldown=0, min_lr=0.0):
    best = math.inf if mode == 'min' else -math.inf
    bad, cool, lr, out = 0, 0, base, [base]

    def better(a, b):
        if mode == 'min' and threshold_mode == 'rel':
            return a < b * (1 - threshold)
        if mode == 'min':
            return a < b - threshold
        if threshold_mode == 'rel':
            return a > b * (threshold + 1)
        return a > b + threshold
    for m in metrics:
        if better(m, best):
            best, bad = m, 0
        else:
            bad += 1
        if cool > 0:
            cool -= 1
            bad = 0
        if bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > 1e-8:
                lr = new
            cool, bad = cooldown, 0
        out.append(lr)
    return out


def onecycle(max_lr, total, pct_start=0.3, anneal='cos', div_factor=25.0, final_div=1e4):
    initial = max_lr / div_factor
    final = initial / final_div
    phases = [(float(pct_start * total) - 1, initial, max_lr), (float(total) - 1, max_lr, final)]

    def ann(a, b, pct):
        if anneal == 'cos':
            return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (b - a) * pct + a
    out = []
    for step in range(total + 1):
        start = 0
        for i, (end, a, b) in enumerate(phases):
            if step <= end or i == len(phases) - 1:
                out.append(ann(a, b, (step - start) / (end - start)))
                break
            start = end
    return out


def carr(name, rows):
    if isinstance(rows[0], list):
        body = ',\n'.join('    {' + ', '.join('%.17g' % v for v in r) + '}' for r in rows)
        return 'static const double %s[%d][%d] = {\n%s};\n' % (name, len(rows), len(rows[0]), body)
    body = ',\n'.join('    ' + ', '.join('%.17g' % v for v in rows[i:i + 4])
                      for i in range(0, len(rows), 4))
    return 'static const double %s[%d] = {\n%s};\n' % (name, len(rows), body)


def main():
    print('/* ref_values.h: GENERATED by `python3 tests/optim/reference.py > '
          'tests/optim/ref_values.h`.\n'
          ' * Independent double-precision reference values from the torch.optim algorithm '
          'boxes and\n * the lr_scheduler recursive forms; see reference.py. Do not edit by '
          'hand. */')
    print('#ifndef REF_VALUES_H\n#define REF_VALUES_H\n')
    print('#define REF_STEPS %d\n#define REF_N 7\n' % STEPS)
    cases = [
        ('ref_sgd_plain', sgd(), 0.1),
        ('ref_sgd_momentum_wd', sgd(momentum=0.9, dampening=0.1, wd=0.01), 0.1),
        ('ref_sgd_nesterov_wd', sgd(momentum=0.9, nesterov=True, wd=0.05), 0.1),
        ('ref_adam_default', adam(), 0.1),
        ('ref_adam_l2', adam(wd=0.1), 0.05),
        ('ref_adamw_default', adam(wd=0.01, decoupled=True), 0.1),
        ('ref_adamw_amsgrad', adam(b1=0.8, b2=0.5, wd=0.1, amsgrad=True, decoupled=True), 0.1),
        ('ref_rmsprop_default', rmsprop(), 0.01),
        ('ref_rmsprop_centered_momentum_wd',
         rmsprop(alpha=0.9, wd=0.1, momentum=0.5, centered=True), 0.01),
        ('ref_adagrad_default', adagrad(), 0.1),
        ('ref_adagrad_all', adagrad(lr_decay=0.1, wd=0.1, iav=0.5), 0.1),
    ]
    for name, fn, lr in cases:
        print(carr(name, run(fn, lr)))
    # AMSGrad must change the result for the test to mean anything
    ams = adam(b1=0.8, b2=0.5, wd=0.1, amsgrad=True)
    probe = {}
    p = [1.0, -2.0, 0.5, 3.0]
    for t in range(1, STEPS + 1):
        ams(t, p, [A[0][i] * p[i] for i in range(4)], 0.1, 1.0, probe)
    assert probe.get('ams_mattered'), 'pick betas for which the running max differs from v'
    print(carr('ref_adam_amsgrad_l2', run(adam(b1=0.8, b2=0.5, wd=0.1, amsgrad=True), 0.1)))

    print(carr('ref_step', steplr(0.1, 3, 0.5, 12)))
    print(carr('ref_multistep', multisteplr(0.1, [2, 5, 6], 0.1, 10)))
    print(carr('ref_exponential', exponentiallr(0.1, 0.9, 8)))
    print(carr('ref_cosine', cosinelr(0.1, 6, 0.001, 20)))
    print(carr('ref_warm_restarts_1', warm_restarts(0.1, 3, 1, 0.01, 10)))
    print(carr('ref_warm_restarts_2', warm_restarts(0.1, 2, 2, 0.0, 16)))
    metrics = [1.0, 0.9, 0.89995, 0.9, 0.95, 0.8, 0.85, 0.86, 0.87, 0.88, 0.7, 0.75, 0.76,
               0.77, 0.78, 0.79]
    print(carr('ref_plateau_metrics', metrics))
    print(carr('ref_plateau_min_rel', plateau(0.1, metrics, patience=1, cooldown=2,
                                              threshold=1e-3)))
    print(carr('ref_plateau_min_abs', plateau(0.1, metrics, patience=2, threshold=0.02,
                                              threshold_mode='abs', factor=0.5,
                                              min_lr=0.03)))
    acc = [0.5, 0.6, 0.6, 0.61, 0.605, 0.7, 0.69, 0.69, 0.71, 0.70, 0.70, 0.70]
    print(carr('ref_plateau_acc', acc))
    print(carr('ref_plateau_max_rel', plateau(0.2, acc, mode='max', patience=1, cooldown=1,
                                              threshold=0.02, factor=0.5)))
    print(carr('ref_onecycle_cos', onecycle(0.5, 20)))
    print(carr('ref_onecycle_linear', onecycle(0.5, 20, pct_start=0.25, anneal='linear',
                                              div_factor=10.0, final_div=100.0)))
    print('#endif')


if __name__ == '__main__':
    main()
