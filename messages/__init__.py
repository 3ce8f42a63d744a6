"""The message types that cross layers: signals, inputs, snapshots, enums, results, names.

The bottom of the house (``tests/test_layers.py``): the standard library and
``temporalio.common`` only, so the workflow sandbox loads these modules as they are and every
layer above (data layer, intake, workflows, activities, console, shell) may import them.
"""
