"""The worked example's task, vessel maps inside a field of view: its scores, the test results
it writes, its images, and prediction on photographs. A fork for another task replaces this
package (and conf/task/vessels.yaml, which names it)."""
