module example.com/readme/svc

go 1.19
