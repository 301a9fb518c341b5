-- `oneproxy report`: the per target × n summary of every stored AdaProxy protocol run.
SELECT protocol, space_id, strategy, target, method, n_samples, seeds, proxy, proxy_share,
       before_srcc_mean, after_srcc_mean, after_srcc_std, published_srcc
FROM adaptation
ORDER BY protocol, strategy, target, method, n_samples;
