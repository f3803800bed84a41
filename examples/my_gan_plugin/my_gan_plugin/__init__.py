"""An installable gan-cli plugin: a residual MLP and label smoothing (README: "Your own model")."""
