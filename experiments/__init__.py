"""The non-claim experiments of ssmbench (checkout-only, beside the library): smoke, zoo
learning, bounds, throughput, trainers. They import the library; the library never imports them."""
