"""What the tests share, and no test of its own: simulators of real API styles (`apis`), a fake
`gcloud` for the deploy scripts (`fakes`), and helpers named by what they hold — deliveries to the
function and the test's world on the local stack (`delivery`), the catalog entity and its checks
against the simulator's ground truth (`catalog`), fault injection (`faults`), an example entity
config (`configs`), the fetcher on its own (`extraction`), fan-out (`fanout`) and `${NAME}`
variables (`env_vars`). Test modules import from here, never from one another; fixtures live in
the conftest files."""
